#!/usr/bin/env bash
# Installs the desktop entry, the AppStream metadata and the icons of PRIST Annotator under a
# prefix (default ~/.local), so that desktop menus list the app. The `annotator` command must be
# on PATH (a pip install, or the bundle's folder; see README).
#   bash packaging/linux/install.sh [PREFIX]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
icons="$here/../../resources/icons"
[ -d "$icons" ] || icons="$here/icons"   # inside the bundle, the icons sit beside this script
prefix="${1:-$HOME/.local}"
id=org.pristannotator.PristAnnotator
install -Dm644 "$here/$id.desktop" "$prefix/share/applications/$id.desktop"
install -Dm644 "$here/$id.metainfo.xml" "$prefix/share/metainfo/$id.metainfo.xml"
install -Dm644 "$icons/prist-annotator.svg" "$prefix/share/icons/hicolor/scalable/apps/$id.svg"
for png in "$icons"/png/prist-annotator-*.png; do
  size="${png##*-}"; size="${size%.png}"
  install -Dm644 "$png" "$prefix/share/icons/hicolor/${size}x${size}/apps/$id.png"
done
if command -v update-desktop-database >/dev/null; then
  update-desktop-database -q "$prefix/share/applications" || true
fi
echo "installed $id under $prefix"
