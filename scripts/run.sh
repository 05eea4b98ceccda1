#!/usr/bin/env bash
# Runs the app (set-up first, see setup.sh). With no database yet it opens the bundled sample
# project. Extra arguments go to `annotator` (e.g. `bash scripts/run.sh --db my.sqlite3`).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$(bash "$here/scripts/setup.sh" | tail -n 1)"
exec "$venv/bin/annotator" "$@"
