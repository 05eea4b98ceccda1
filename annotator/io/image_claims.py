"""What the records of a file say about their images (size, sha256), checked against each other
and, when an images folder is given, against the files in it.

A record's masks are sized by the image it names, and storage keeps one row per image file
version (folder, name, sha256): two records naming that file with two sizes would leave one of
them with masks that fit no picture, so the second one is refused. Against the folder: a file
that is there must be the picture the record was made on (same size, same bytes where the
record carries a sha256); a file that is not there is left to the app's "missing image" state,
as an import without a folder leaves every image; a file whose header cannot be read cannot
contradict the size (the app shows why it cannot be shown), but its bytes still meet the hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from annotator.core.errors import InputError
from annotator.core.model import Image
from annotator.io.images import ImageInfo, file_sha256, probe_image
from annotator.io.paths import confine


@dataclass(frozen=True)
class _Claim:
    width: int
    height: int
    line: int


@dataclass(frozen=True)
class _Found:
    path: Path
    info: ImageInfo | None  # None: the header cannot be read
    sha256: str


class ImageClaims:
    """Checks one file's records in order; each refusal names the file, line and record."""

    def __init__(self, file: str, folder: str | Path | None) -> None:
        self.file = file
        self.folder = Path(folder).resolve() if folder is not None else None
        if self.folder is not None and not self.folder.is_dir():
            raise InputError("the images folder does not exist", file=str(folder))
        self._claims: dict[tuple[str, str], _Claim] = {}
        self._found: dict[str, _Found | None] = {}  # by image name; None: no file there

    def check(self, image: Image, line: int, record: int) -> None:
        """Refuse ``image`` (as record ``record`` on ``line`` names it) when it contradicts an
        earlier record or the file in the images folder."""
        key = (image.path, image.sha256)
        earlier = self._claims.get(key)
        if earlier is None:
            self._claims[key] = _Claim(image.width, image.height, line)
        elif (earlier.width, earlier.height) != (image.width, image.height):
            raise self._fail(
                f"image {image.path} is {image.width}x{image.height} here but "
                f"{earlier.width}x{earlier.height} on line {earlier.line} (the same file, "
                f"sha256 {image.sha256[:12] or '(none)'}, cannot have two sizes)",
                line,
                record,
            )
        if self.folder is not None:
            self._against_file(image, line, record)

    def _against_file(self, image: Image, line: int, record: int) -> None:
        found = self._look(image, line, record)
        if found is None:
            return
        if found.info is not None and (found.info.width, found.info.height) != (
            image.width,
            image.height,
        ):
            raise self._fail(
                f"image {image.path} is {image.width}x{image.height} in the record but "
                f"{found.info.width}x{found.info.height} in {found.path}",
                line,
                record,
            )
        if image.sha256 and image.sha256 != found.sha256:
            raise self._fail(
                f"image {image.path}: {found.path} has sha256 {found.sha256[:12]}..., the "
                f"record {image.sha256[:12]}... (another picture under the same name)",
                line,
                record,
            )

    def _look(self, image: Image, line: int, record: int) -> _Found | None:
        """The file of ``image`` in the folder, read once per name."""
        if image.path in self._found:
            return self._found[image.path]
        assert self.folder is not None
        try:
            path = confine(self.folder, image.path)
        except InputError as exc:
            raise self._fail(f"image path: {exc.reason}", line, record) from exc
        found: _Found | None = None
        if path.is_file():
            try:
                info: ImageInfo | None = probe_image(path)
            except InputError:
                info = None  # unreadable: the app says why; the bytes still meet the hash
            try:
                sha = info.sha256 if info is not None else file_sha256(path)
            except InputError as exc:
                raise self._fail(f"image {image.path}: {exc}", line, record) from exc
            found = _Found(path, info, sha)
        self._found[image.path] = found
        return found

    def _fail(self, message: str, line: int, record: int) -> InputError:
        return InputError(message, file=self.file, line=line, record=record)
