"""The layering rule of DESIGN.md, checked over the source with ast: imports, and modules started
by name (`-m berth.x`, `-c "from berth.x import ..."`, `__import__(f"berth.x.{name}")`)."""

import ast
import re
from pathlib import Path

import pytest

import berth

SRC = Path(berth.__file__).parent
LAYER = {
    "oci": 0, "linux": 0, "fs": 0, "clock": 0, "users": 0, "daemon_config": 0, "errors": 0, "argv": 0, "fastjson": 0, "units": 0, "tables": 0, "foreground": 0, "db": 0, "events": 0, "streams": 0,
    "__init__": 0,
    "runtime": 1, "monitor": 1, "content": 1, "snapshot": 1, "registry": 1, "network": 1,
    "image": 2, "build": 2, "engine": 3, "cli": 4, "api": 4, "client": 4, "cri": 5, "entry": 6,
}  # fmt: skip


def top(module: str) -> str:
    return module.split(".")[1] if module.startswith("berth.") else module


def test_every_package_has_a_layer():
    for path in SRC.iterdir():
        if path.name.startswith("_") and path.name != "__init__.py" or path.name == "__pycache__":
            continue
        assert path.stem in LAYER, f"{path.name} has no layer in the table"


# the L0 helpers a front end may use to parse and render; everything else through the engine
FRONT_END_HELPERS = {"argv", "errors", "tables", "units", "clock", "fastjson", "__init__"}
MODULE_NAME = re.compile(r"(?:^|[\s;])(?:from |import |-m )?(berth(?:\.[a-z_][a-z0-9_]*)+)")


def _named_modules(node: ast.AST) -> list[str]:
    """Modules a string names: a whole string that is a dotted berth module, or one inside code
    given to -c; an f-string's leading constant part counts."""
    if isinstance(node, ast.JoinedStr):
        first = node.values[0] if node.values else None
        text = first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else ""
        text = text.rstrip(".")
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value
    else:
        return []
    if re.fullmatch(r"berth(\.[a-z_][a-z0-9_]*)+", text):
        return [text]
    return [m for m in MODULE_NAME.findall(text) if "import" in text]


def _edges(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == "berth":  # `from berth import streams`
            names += [f"berth.{a.name}" if (SRC / a.name).is_dir() or (SRC / f"{a.name}.py").exists()
                      else "berth.__init__" for a in node.names]  # fmt: skip
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        else:
            names += _named_modules(node)
    return names


def test_modules_named_in_strings_are_seen():
    tree = ast.parse(
        'x = [sys.executable, "-m", "berth.cli.main"]; f"berth.runtime.{n}"; "import sys; from berth.cli import main"'
    )
    found = [name for node in ast.walk(tree) for name in _named_modules(node)]
    assert sorted(found) == ["berth.cli", "berth.cli.main", "berth.runtime"], found


@pytest.mark.parametrize("front", ["cli", "api", "cri"])
def test_front_ends_reach_only_the_engine(front):
    problems = []
    for path in (SRC / front).rglob("*.py"):
        for name in _edges(path):
            if not name.startswith("berth.") or name == "berth":
                continue
            if top(name) not in {front, "engine", *FRONT_END_HELPERS} and not (
                front in ("api", "cri") and top(name) == "streams"  # the monitor's attach framing
            ):
                problems.append(f"{front}/{path.relative_to(SRC / front)}: imports {name}")
    assert not problems, "\n".join(problems)


def test_imports_only_go_down():
    problems = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        own = rel.parts[0].removesuffix(".py")
        for name in _edges(path):
            if not name.startswith("berth.") or name == "berth":
                continue
            other = top(name)
            if other == own:
                continue
            if LAYER[other] >= LAYER[own] and not (LAYER[other] == 0 and LAYER[own] == 0):
                problems.append(f"{rel}: imports {name} (layer {LAYER[other]} from layer {LAYER[own]})")
    assert not problems, "\n".join(problems)
