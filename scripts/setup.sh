#!/usr/bin/env bash
# Idempotent set-up shared by the README's two commands and CI.
#  - system packages (Qt runtime libraries, PostgreSQL for the team-mode tests, the desktop-file
#    and AppStream validators, and what the bundle build strips with) when run as root;
#  - a virtualenv cached outside the clone, keyed by a hash of the dependency list, built from
#    nothing when absent (the model stack is several GB, so rebuilding it each time is avoided);
#  - this checkout installed into it (editable), and the default SAM weights when missing.
# Prints the virtualenv's path on its last line.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

want_system="${ANNOTATOR_SETUP_SYSTEM:-1}"
if [ "$want_system" = "1" ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  pkgs="libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0
        libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
        libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 postgresql
        desktop-file-utils appstream file binutils"
  missing=""
  for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    echo "setup: installing system packages:$missing" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >&2
  fi
fi

py="${PYTHON:-python3}"
# Keyed by the interpreter's build and place too: two Pythons of one version (Debian's and one
# built for embedding, say) get a virtualenv each.
key="$( (sed -n '/^dependencies = \[/,/^\]/p;/^dev = \[/,/^\]/p' pyproject.toml
         "$py" -c 'import sys; print(sys.version, sys.base_prefix)') | sha256sum | cut -c1-16)"
cache="${ANNOTATOR_VENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/prist-annotator}"
venv="$cache/venv-$key"
if [ ! -f "$venv/.ready" ]; then
  echo "setup: building virtualenv $venv (first time: downloads the model stack, several GB)" >&2
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip "setuptools>=77" wheel >&2
  "$venv/bin/pip" install -q -e ".[dev]" >&2
  # Written last, so an interrupted build is rebuilt rather than mistaken for a finished one.
  touch "$venv/.ready"
fi
# The checkout may have moved (CI clones afresh): point the editable install here, quickly.
"$venv/bin/pip" install -q --no-deps --no-build-isolation -e . >&2
"$venv/bin/annotator" models install mobile-sam --if-missing >&2
echo "$venv"
