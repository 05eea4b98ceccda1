"""Fixtures for the storage tests: conversation builders and stores on real database files."""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from annotator.core.mask import Mask
from annotator.core.model import (
    Conversation,
    Flag,
    FlagCode,
    Image,
    MaskAnnotation,
    MaskLayer,
    MaskSource,
    Provenance,
    Turn,
)
from annotator.storage import Store, open_store


def blob_mask(height: int, width: int, seed: int) -> Mask:
    """A filled rectangle placed by ``seed`` (different seeds give different masks)."""
    rng = np.random.default_rng(seed)
    arr = np.zeros((height, width), dtype=bool)
    y0, x0 = int(rng.integers(0, height // 2)), int(rng.integers(0, width // 2))
    y1, x1 = y0 + int(rng.integers(2, height // 2)), x0 + int(rng.integers(2, width // 2))
    arr[y0:y1, x0:x1] = True
    return Mask.from_array(arr)


def make_conversation(
    n: int,
    *,
    turns: int = 3,
    height: int = 48,
    width: int = 64,
    image_path: str | None = None,
    flags: tuple[Flag, ...] = (),
    final_mask: bool = False,
    verified: bool | None = None,
) -> Conversation:
    """``final_mask``: the target turn has a verified mask; ``verified`` (default: as
    ``final_mask``): every answer is verified too, so the record can be approved."""
    verified = final_mask if verified is None else verified
    image = Image(
        path=image_path or f"img/{n:05d}.jpg",
        width=width,
        height=height,
        sha256=f"{n:064x}",
        root="/data/images",
    )
    out: list[Turn] = []
    for i in range(turns):
        last = i == turns - 1
        masks: tuple[MaskAnnotation, ...] = ()
        if last:
            layers = [MaskLayer.DRAFT] + ([MaskLayer.FINAL] if final_mask else [])
            masks = tuple(
                MaskAnnotation(
                    mask=blob_mask(height, width, n * 10 + k),
                    layer=layer,
                    provenance=Provenance(
                        source=MaskSource.IMPORTED, author="importer", detail={"n": n, "k": k}
                    ),
                    label=f"thing {n}",
                )
                for k, layer in enumerate(layers)
            )
        out.append(
            Turn(
                index=i,
                question=f"question {i} of {n} — é",
                draft_answer="Sure, [SEG]." if last else f"answer {i} of {n}",
                final_answer=("Sure, [SEG]." if last else f"answer {i} of {n}")
                if verified
                else None,
                masks=masks,
            )
        )
    return Conversation(
        image=image,
        focus=f"focus number {n}",
        turns=tuple(out),
        source=f"test.json#{n}",
        key=f"key-{n}",
        flags=flags,
    )


def missing_image_flag() -> Flag:
    return Flag(FlagCode.MISSING_IMAGE, "image file not found")


# -- PostgreSQL -------------------------------------------------------------------------------
def _pg_bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True)
    return candidates[0].parent if candidates else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{database}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throw-away PostgreSQL cluster on a free loopback port (skipped without the binaries).

    PostgreSQL refuses to run as root, so as root the cluster belongs to the ``postgres`` user
    and lives in a temp dir that user owns.
    """
    bin_dir = _pg_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: install postgresql")
    prefix: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="annotator-pg-"))
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base, ignore_errors=True)
            pytest.skip("running as root and there is no 'postgres' user to run the server")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        runuser = shutil.which("runuser")
        prefix = [runuser, "-u", "postgres", "--"] if runuser else ["su", "postgres", "-c"]
    data, port, user = base / "data", _free_port(), "pgowner"

    def run(*cmd: str) -> subprocess.CompletedProcess[str]:
        argv = [*prefix, *cmd] if prefix[:1] != ["su"] else [*prefix, shlex.join(cmd)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)

    init = run(
        str(bin_dir / "initdb"),
        "-D",
        str(data),
        "-U",
        user,
        "--auth=trust",
        "-E",
        "UTF8",
        "--no-locale",
    )
    if init.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"initdb failed: {init.stderr or init.stdout}")
    options = (
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off"
    )
    start = run(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(base / "log"),
        "-w",
        "-t",
        "60",
        "start",
    )
    if start.returncode != 0:
        log = (base / "log").read_text(errors="replace") if (base / "log").exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {start.stderr}{log}")
    try:
        yield PostgresServer("127.0.0.1", port, user)
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the test server for one test."""
    name = f"t_{uuid.uuid4().hex[:16]}"
    postgres_server.admin(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The same repository tests on every backend."""
    if request.param == "postgres":
        db: str | Path = request.getfixturevalue("postgres_url")
    else:
        db = tmp_path / "annotator.sqlite3"
    s = open_store(db)
    try:
        yield s
    finally:
        s.close()
