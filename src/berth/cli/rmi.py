"""`berth rmi` / `berth image rm`: untag, then delete an image no name holds."""

from __future__ import annotations

import sys

from berth.argv import BOOL, Option, parse
from berth.errors import BerthError, FailedPrecondition, InvalidArgument
from berth.oci import reference

OPTIONS = [Option("force,f", BOOL, help="remove the image even if other names hold it"),
           Option("no-prune", BOOL, help="kept for docker compatibility")]  # fmt: skip


def containers_by_image(store) -> dict[str, list[str]]:
    """image ID -> the containers made from it (the engine's table, in the same root)."""
    import os

    from berth.db import connect

    path = os.path.join(store.root, "containers.db")
    if not os.path.exists(path):
        return {}
    db = connect(path)
    try:
        out: dict[str, list[str]] = {}
        for cid, image in db.execute("SELECT id, image FROM containers"):
            out.setdefault(image, []).append(cid)
        return out
    finally:
        db.close()


def _users(store, image_id: str) -> list[str]:
    return containers_by_image(store).get(image_id, [])


def remove(store, name: str, force: bool) -> list[str]:
    image = store.get(name)
    users = [] if force else _users(store, image.id)
    if users:
        raise FailedPrecondition(f'conflict: unable to remove repository reference "{name}" (must force) - '
                                 f"container {users[0][:12]} is using its referenced image {image.id[7:19]}")  # fmt: skip
    lines = []
    by_id = image.id.removeprefix("sha256:").startswith(name.removeprefix("sha256:")) and name not in _tag_names(image)
    if by_id:
        if len(image.tags) > 1 and not force:
            raise FailedPrecondition(
                f"conflict: unable to delete {image.id[7:19]} (must be forced) - image is referenced in multiple repositories"
            )
        untag = list(image.tags)
    else:
        untag = [str(reference.parse(name))]
    for tag in untag:
        store.untag(tag)
        ref = reference.parse(tag)
        lines.append(f"Untagged: {ref.familiar_name()}:{ref.tag}")
    if not store.get(image.id).tags:
        store.delete(image.id)
        lines.append(f"Deleted: {image.id}")
    return lines


def _tag_names(image) -> set[str]:
    names = set()
    for t in image.tags:
        ref = reference.parse(t)
        names |= {t, f"{ref.familiar_name()}:{ref.tag}", ref.familiar_name()}
    return names


def main(store, argv: list[str]) -> int:
    opts, names = parse(argv, OPTIONS, interspersed=True)
    if not names:
        raise InvalidArgument('"rmi" requires at least 1 argument.')
    code = 0
    deleted = False
    for name in names:
        try:
            lines = remove(store, name, opts["force"])
            deleted |= any(line.startswith("Deleted:") for line in lines)
            sys.stdout.write("".join(line + "\n" for line in lines))
        except BerthError as e:
            sys.stderr.write(f"Error: {e}\n")
            code = 1
    if deleted:
        from berth.image.gc import collect

        collect(store)  # the blobs and snapshots only the removed images held
    return code
