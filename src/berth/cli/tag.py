"""`berth tag SOURCE TARGET`."""

from __future__ import annotations

from berth.errors import InvalidArgument


def main(engine, argv: list[str]) -> int:
    if len(argv) != 2:
        raise InvalidArgument('"tag" requires exactly 2 arguments: SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]')
    engine.images.tag(argv[0], argv[1])
    return 0
