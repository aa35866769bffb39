"""A small command-line parser with Go's flag rules, as runc and docker use.

`-x`, `--x`, `--x=v` and `--x v` all work; parsing of options stops at the
first positional argument or `--`. argparse is not used because it costs ~8 ms
of imports on paths that must start fast.
"""

from berth.errors import InvalidArgument

BOOL, STR, INT, LIST = "bool", "str", "int", "list"


class Option:
    __slots__ = ("names", "dest", "kind", "default", "help")

    def __init__(self, names: str, kind: str = BOOL, default: object = None, help: str = "", dest: str = "") -> None:
        self.names = tuple(n.strip() for n in names.split(","))
        self.kind = kind
        self.default = ([] if kind == LIST else False if kind == BOOL else None) if default is None else default
        self.help = help
        self.dest = dest or self.names[0].lstrip("-").replace("-", "_")


def parse(argv: list[str], options: list[Option], interspersed: bool = False) -> tuple[dict, list[str]]:
    """Return (values by dest, positional arguments).

    With `interspersed`, options may also follow positional arguments (docker's
    rule); otherwise the first positional ends option parsing (runc's rule).
    """
    table = {}
    for opt in options:
        for name in opt.names:
            table[name.lstrip("-")] = opt
    values = {opt.dest: (list(opt.default) if opt.kind == LIST else opt.default) for opt in options}
    positional: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            positional.extend(argv[i:])
            break
        if len(arg) < 2 or arg[0] != "-":
            positional.append(arg)
            if not interspersed:
                positional.extend(argv[i:])
                break
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        opt = table.get(name)
        if opt is None and arg[1] != "-" and len(name) > 1 and all(c in table for c in name):
            # -aq, -itd: combined short flags; all but the last must be booleans
            *bools, last = name
            if any(table[c].kind != BOOL for c in bools):
                raise InvalidArgument(f"unknown shorthand flag in {arg}: only the last may take a value")
            for c in bools:
                values[table[c].dest] = True
            name, opt = last, table[last]
        if opt is None:
            raise InvalidArgument(f"unknown flag: {arg}")
        if opt.kind == BOOL:
            values[opt.dest] = value.lower() not in ("false", "0") if eq else True
            continue
        if not eq:
            if i >= len(argv):
                raise InvalidArgument(f"flag needs an argument: {arg}")
            value = argv[i]
            i += 1
        if opt.kind == INT:
            try:
                value = int(value)
            except ValueError:
                raise InvalidArgument(f'invalid value "{value}" for flag {arg}: parse error') from None
        if opt.kind == LIST:
            values[opt.dest].append(value)
        else:
            values[opt.dest] = value
    return values, positional


def usage(options: list[Option]) -> str:
    lines = []
    for opt in options:
        names = ", ".join(("--" if len(n.lstrip("-")) > 1 else "-") + n.lstrip("-") for n in opt.names)
        arg = "" if opt.kind == BOOL else " value"
        lines.append(f"   {names}{arg:<8} {opt.help}")
    return "\n".join(lines)


def filters(items: list[str]) -> dict[str, list[str]]:
    """Docker's repeated `--filter key=value` as {key: [values]} (a key's values are alternatives)."""
    out: dict[str, list[str]] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidArgument(f"bad format of filter (expected name=value): {item}")
        out.setdefault(key, []).append(value)
    return out
