"""The image files this tool reads, by format and file name: the reader refuses the rest, and
the file pickers offer exactly these (no Pillow here, so the app can ask at start-up)."""

from __future__ import annotations

# Pillow format name -> file extensions it may carry. MPO is how Pillow names JPEGs from
# cameras that carry extra frames.
FORMAT_EXTENSIONS: dict[str, frozenset[str]] = {
    "JPEG": frozenset({".jpg", ".jpeg", ".jpe", ".jfif"}),
    "MPO": frozenset({".jpg", ".jpeg", ".jpe", ".jfif"}),
    "PNG": frozenset({".png"}),
    "BMP": frozenset({".bmp"}),
    "TIFF": frozenset({".tif", ".tiff"}),
    "WEBP": frozenset({".webp"}),
}
ALLOWED_EXTENSIONS: frozenset[str] = frozenset().union(*FORMAT_EXTENSIONS.values())
