"""Container names: Docker's rules for what a name may be, and generated ones."""

from __future__ import annotations

import os

from berth.errors import InvalidArgument

_FIRST = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_REST = _FIRST | frozenset("_.-")
ADJECTIVES = ("admiring", "brave", "calm", "clever", "dazzling", "eager", "elastic", "festive", "focused", "gallant",
              "happy", "jolly", "keen", "kind", "lucid", "modest", "nifty", "optimistic", "quirky", "serene",
              "sharp", "stoic", "tender", "upbeat", "vibrant", "wizardly", "youthful", "zealous")  # fmt: skip
SCIENTISTS = ("albattani", "bell", "curie", "darwin", "einstein", "fermat", "franklin", "galileo", "hopper",
              "hypatia", "johnson", "kepler", "lamarr", "lovelace", "meitner", "newton", "noether", "pasteur",
              "ritchie", "shannon", "thompson", "turing", "volhard", "wozniak", "yalow", "zhukovsky")  # fmt: skip


def validate(name: str) -> str:
    name = name.removeprefix("/")
    if len(name) < 2 or name[0] not in _FIRST or not set(name[1:]) <= _REST:
        raise InvalidArgument(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name


def generate(taken) -> str:
    for _ in range(100):
        a = ADJECTIVES[os.urandom(1)[0] % len(ADJECTIVES)]
        s = SCIENTISTS[os.urandom(1)[0] % len(SCIENTISTS)]
        name = f"{a}_{s}"
        if not taken(name):
            return name
    return f"{a}_{s}{os.urandom(2).hex()}"
