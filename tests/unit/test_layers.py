"""The layering rule of DESIGN.md, checked over the source with ast."""

import ast
from pathlib import Path

import berth

SRC = Path(berth.__file__).parent
LAYER = {
    "oci": 0, "linux": 0, "fs": 0, "clock": 0, "users": 0, "daemon_config": 0, "errors": 0, "argv": 0, "fastjson": 0, "units": 0, "tables": 0, "foreground": 0, "db": 0, "events": 0, "streams": 0,
    "__init__": 0,
    "runtime": 1, "monitor": 1, "content": 1, "snapshot": 1, "registry": 1, "network": 1,
    "image": 2, "build": 2, "engine": 3, "cli": 4, "api": 4, "client": 4, "cri": 5,
}  # fmt: skip


def top(module: str) -> str:
    return module.split(".")[1] if module.startswith("berth.") else module


def test_every_package_has_a_layer():
    for path in SRC.iterdir():
        if path.name.startswith("_") and path.name != "__init__.py" or path.name == "__pycache__":
            continue
        assert path.stem in LAYER, f"{path.name} has no layer in the table"


def test_imports_only_go_down():
    problems = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        own = rel.parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if not name.startswith("berth.") or name == "berth":
                    continue
                other = top(name)
                if other == own:
                    continue
                if LAYER[other] >= LAYER[own] and not (LAYER[other] == 0 and LAYER[own] == 0):
                    problems.append(f"{rel}: imports {name} (layer {LAYER[other]} from layer {LAYER[own]})")
    assert not problems, "\n".join(problems)
