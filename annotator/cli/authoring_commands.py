"""``annotator images ...`` and ``annotator conversations ...``: add images, write, list,
duplicate, delete and restore conversations from scripts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from annotator.cli.common import acting_user, open_db, print_json
from annotator.cli.progress_bar import progress_task

if TYPE_CHECKING:
    pass


def register(sub: Any) -> None:
    images = sub.add_parser("images", help="add and list images (with or without conversations)")
    isub = images.add_subparsers(dest="images_command", metavar="ACTION", required=True)
    p = isub.add_parser("add", help="add every image of a folder (named by its path in it)")
    p.add_argument("folder", type=Path, help="the folder of images")
    p.add_argument("--recursive", action="store_true", help="also the folders inside it")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(run=_images_add)
    p = isub.add_parser("list", help="the images with their number of conversations")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(run=_images_list)

    convs = sub.add_parser("conversations", help="write, list, duplicate, delete, restore")
    csub = convs.add_subparsers(dest="conversations_command", metavar="ACTION", required=True)
    p = csub.add_parser("new", help="a conversation on an image from a PRIST dialogue file")
    p.add_argument("img_id", help="the image's name (its path in the folder it was added from)")
    p.add_argument("--focus", required=True, help="the target the conversation narrows onto")
    p.add_argument(
        "--dialogue",
        required=True,
        type=Path,
        help="a JSON array of {from: human|gpt, value} messages, [SEG] in the last answer",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(run=_new)
    p = csub.add_parser("list", help="the conversations (optionally of one image)")
    p.add_argument("--image", metavar="IMG_ID", help="only those on this image")
    p.add_argument("--deleted", action="store_true", help="the deleted ones (to restore)")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(run=_list)
    p = csub.add_parser("duplicate", help="a variant on the same image with another focus")
    p.add_argument("id", type=int, help="the conversation to start from")
    p.add_argument("--focus", required=True, help="the new focus")
    p.set_defaults(run=_duplicate)
    for name, what in (("delete", "hide from lists and exports"), ("restore", "undo a delete")):
        p = csub.add_parser(name, help=what)
        p.add_argument("id", type=int, help="the conversation")
        p.set_defaults(run=_set_deleted, deleted=name == "delete")


def _images_add(args: argparse.Namespace) -> int:
    from annotator.services.image_add import add_images

    with open_db(args) as store, progress_task("checking images") as task:
        report = add_images(store, args.folder, recursive=args.recursive, task=task)
    if args.json:
        print_json(report.to_json())
    else:
        print(f"{report.folder}: {report.summary()}")
        for name, twin in report.present:
            if name != twin.path:
                print(f"  same picture: {name} is {twin.path}")
        for r in report.refused:
            print(f"  refused: {r.path}: {r.reason}")
    return 0


def _images_list(args: argparse.Namespace) -> int:
    with open_db(args) as store:
        rows = store.images()
    if args.json:
        print_json(
            [
                {
                    "id": r.id,
                    "img_id": r.path,
                    "folder": r.root,
                    "width": r.width,
                    "height": r.height,
                    "sha256": r.sha256,
                    "conversations": r.conversations,
                }
                for r in rows
            ]
        )
        return 0
    for r in rows:
        print(f"#{r.id:<6} {r.path}  {r.width}x{r.height}  {r.conversations} conversation(s)")
    print(f"{len(rows)} image(s)", file=sys.stderr)
    return 0


def _new(args: argparse.Namespace) -> int:
    from annotator.services.authoring import create_from_dialogue

    with open_db(args) as store:
        made = create_from_dialogue(
            store, args.img_id, args.focus, args.dialogue, actor=acting_user(store=store)
        )
    out = {
        "id": made.conversation_id,
        "img_id": made.image.path,
        "turns": made.turns,
        "already_present": made.conversation_id is None,
    }
    if args.json:
        print_json(out)
    elif made.conversation_id is None:
        print(f"this conversation on {made.image.path} is stored already; nothing added")
    else:
        print(f"#{made.conversation_id}: {made.turns} turn(s) on {made.image.path}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from annotator.core.listing import ListQuery

    with open_db(args) as store:
        image_id = store.image_named(args.image).id if args.image else None
        rows = store.page(ListQuery(image_id=image_id, deleted=args.deleted), 0, 10**9)
    if args.json:
        print_json(
            [
                {
                    "id": r.id,
                    "img_id": r.image_path,
                    "focus": r.focus,
                    "status": str(r.status),
                    "turns": r.turn_count,
                    "flags": list(r.flag_codes),
                    "updated_at": r.updated_at.isoformat(),
                }
                for r in rows
            ]
        )
        return 0
    for r in rows:
        print(f"#{r.id:<6} {r.status!s:<10} {r.turn_count} turns  {r.image_path}  {r.focus}")
    print(f"{len(rows)} conversation(s)", file=sys.stderr)
    return 0


def _duplicate(args: argparse.Namespace) -> int:
    from annotator.services.authoring import duplicate

    with open_db(args) as store:
        new_id = duplicate(store, args.id, args.focus, actor=acting_user(store=store))
    print(f"#{new_id}: a variant of #{args.id} with focus {args.focus!r}")
    return 0


def _set_deleted(args: argparse.Namespace) -> int:
    from annotator.services.authoring import delete, restore

    with open_db(args) as store:
        (delete if args.deleted else restore)(store, args.id, actor=acting_user(store=store))
    done = "deleted (`annotator conversations restore` brings it back)"
    print(f"#{args.id} {done if args.deleted else 'restored'}")
    return 0
