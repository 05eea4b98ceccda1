"""Images on their own (before any conversation is written on them): added by content, listed
with their conversation counts, found by the name PRIST uses (``img_id``)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from annotator.core.errors import InputError, NotFoundError
from annotator.core.listing import ImageSummary
from annotator.core.model import Image
from annotator.storage import tables as t
from annotator.storage.api_types import ImagesAdded
from annotator.storage.conversations import LOOKUP_CHUNK
from annotator.storage.convert import image_from_row, image_values


def add(conn: Connection, images: Sequence[Image]) -> ImagesAdded:
    """Store the images whose content (sha256) is not stored yet; the same picture under
    another name, stored or earlier in ``images``, is reported as present, not stored twice."""
    known: dict[str, Image] = {}
    hashes = sorted({im.sha256 for im in images})
    for i in range(0, len(hashes), LOOKUP_CHUNK):
        rows = conn.execute(
            sa.select(t.images)
            .where(t.images.c.sha256.in_(hashes[i : i + LOOKUP_CHUNK]))
            .order_by(t.images.c.id)
        ).mappings()
        for r in rows:
            known.setdefault(r["sha256"], image_from_row(r))
    fresh: list[Image] = []
    present: list[tuple[Image, Image]] = []
    for im in images:
        if not im.sha256:
            raise InputError(
                "an image is added by its content: the sha256 is missing", file=im.path
            )
        twin = known.get(im.sha256)
        if twin is not None:
            present.append((im, twin))
            continue
        fresh.append(im)
        known[im.sha256] = im
    added: list[Image] = []
    if fresh:
        ids = conn.execute(
            sa.insert(t.images).returning(t.images.c.id, sort_by_parameter_order=True),
            [image_values(im) for im in fresh],
        ).scalars()
        added = [
            Image(im.path, im.width, im.height, im.sha256, im.root, id=i)
            for im, i in zip(fresh, ids, strict=True)
        ]
    return ImagesAdded(added=added, present=present)


def summaries(conn: Connection, *, path: str | None = None) -> list[ImageSummary]:
    """Every image (or those named ``path``) with its number of live conversations, by name."""
    live = (
        sa.select(t.conversations.c.image_id, sa.func.count().label("n"))
        .where(t.LIVE)
        .group_by(t.conversations.c.image_id)
        .subquery()
    )
    stmt = (
        sa.select(t.images, sa.func.coalesce(live.c.n, 0).label("conversations"))
        .join_from(t.images, live, live.c.image_id == t.images.c.id, isouter=True)
        .order_by(t.images.c.path, t.images.c.id)
    )
    if path is not None:
        stmt = stmt.where(t.images.c.path == path)
    return [
        ImageSummary(
            id=r["id"],
            path=r["path"],
            root=r["root"],
            width=r["width"],
            height=r["height"],
            sha256=r["sha256"],
            conversations=int(r["conversations"]),
        )
        for r in conn.execute(stmt).mappings()
    ]


def get(conn: Connection, image_id: int) -> Image:
    row = conn.execute(sa.select(t.images).where(t.images.c.id == image_id)).mappings().first()
    if row is None:
        raise NotFoundError(f"image {image_id} does not exist")
    return image_from_row(row)


def by_name(conn: Connection, img_id: str) -> Image:
    """The one image named ``img_id``; refused when none is, or several are (the same name
    under two folders: give its number instead)."""
    rows = (
        conn.execute(sa.select(t.images).where(t.images.c.path == img_id).order_by(t.images.c.id))
        .mappings()
        .all()
    )
    if not rows:
        raise NotFoundError(f"no image named {img_id!r} (add it with `annotator images add`)")
    if len(rows) > 1:
        where = ", ".join(f"#{r['id']} in {r['root']}" for r in rows)
        raise InputError(f"{len(rows)} images are named {img_id!r} ({where}); give the number")
    return image_from_row(rows[0])
