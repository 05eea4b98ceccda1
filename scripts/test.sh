#!/usr/bin/env bash
# The test command: sets up (see setup.sh), checks style and layer contracts, runs the suite.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -m crash`).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$(bash "$here/scripts/setup.sh" | tail -n 1)"
cd "$here"
export QT_QPA_PLATFORM=offscreen
echo "== ruff"
"$venv/bin/ruff" check annotator annotator_devtools tests packaging setup.py
echo "== import contracts"
"$venv/bin/lint-imports"
echo "== pytest"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
