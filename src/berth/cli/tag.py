"""`berth tag SOURCE TARGET`."""

from __future__ import annotations

from berth.errors import InvalidArgument
from berth.oci.reference import ReferenceError


def main(store, argv: list[str]) -> int:
    if len(argv) != 2:
        raise InvalidArgument('"tag" requires exactly 2 arguments: SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]')
    try:
        store.tag(argv[0], argv[1])
    except ReferenceError as e:
        raise InvalidArgument(str(e)) from None
    return 0
