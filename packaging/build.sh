#!/usr/bin/env bash
# Builds the desktop bundle: one folder (dist/bundle/annotator/) with the GUI, import/export and
# SAM clicks on ONNX Runtime, without torch. The MobileSAM graphs are exported and checked
# against torch here, in the full install, and adopted by the bundle.
#   bash packaging/build.sh            # then: dist/bundle/annotator/annotator
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="$(bash scripts/setup.sh | tail -n 1)"
"$venv/bin/pip" install -q "pyinstaller>=6.10,<7"  # a build tool: not in the app's dependencies
# The bundle runs Python through the libpython it embeds, so its start-up is as fast as that
# library's build (README, "The desktop bundle"; docs/adr/0014-packaging.md).
"$venv/bin/python" - <<'PY'
import sysconfig

if "--enable-optimizations" not in (sysconfig.get_config_var("CONFIG_ARGS") or ""):
    print(
        "note: this Python's libpython was built without profile-guided optimisation; the "
        "bundle will start slower than a pip install on an optimised interpreter (build it "
        "with PYTHON=<a Python configured --enable-shared --enable-optimizations --with-lto>)"
    )
PY

echo "== SAM graphs (exported and checked against torch on first use)"
models="$("$venv/bin/python" - <<'PY'
from annotator.proposers.sam import open_segmenter

engine = open_segmenter("mobile-sam")
engine.load()
if not engine.runtime_note.startswith("onnxruntime"):
    raise SystemExit(f"MobileSAM does not run on ONNX Runtime here: {engine.runtime_note}")
print(engine.registry.root)
engine.close()
PY
)"

echo "== PyInstaller"
rm -rf build/bundle dist/bundle
"$venv/bin/pyinstaller" --noconfirm --log-level WARN --distpath dist/bundle \
  --workpath build/bundle packaging/pyinstaller/annotator.spec
app="dist/bundle/annotator"
inside="$app/_internal"

# Symbol tables and debug information (libpython from a source-built Python carries ~18 MB),
# except where the stripped copy would not load (see strip_bundle.py).
"$venv/bin/python" packaging/strip_bundle.py "$inside"

echo "== MobileSAM inside the bundle (its checked ONNX graphs; the checkpoint only torch reads)"
mkdir -p "$inside/models"
licence="$("$venv/bin/python" -c 'from importlib import metadata; d = metadata.distribution("mobilesam-mirror"); print(next(str(d.locate_file(f)) for f in d.files if f.name == "LICENSE"))')"
cp "$licence" "$inside/models/LICENSE-MobileSAM"
ANNOTATOR_MODELS_DIR="$inside/models" "$app/annotator" models adopt-graphs "$models/onnx"
ANNOTATOR_MODELS_DIR="$inside/models" "$app/annotator" models list | sed -n 2,3p

size="$(du -sm "$app" | cut -f1)"
echo "bundle: $app ($size MB)"
