"""The part of Go's text/template that `docker inspect -f` users rely on:
`{{.A.B}}`, `{{json .A}}`, `{{index .A "k"}}`, literal text around them."""

from __future__ import annotations

from berth import fastjson
from berth.errors import InvalidArgument


def _lookup(value: object, path: str) -> object:
    if path in (".", ""):
        return value
    for part in path.lstrip(".").split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise InvalidArgument(f'template: executing "" at <{path}>: map has no entry for key "{part}"')
    return value


def go_string(value: object) -> str:
    """fmt.Sprint of the decoded JSON value, as Go prints it."""
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return "[" + " ".join(go_string(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_string(v)}" for k, v in sorted(value.items())) + "]"
    return str(value)


def _action(action: str, data: object) -> str:
    words = action.split()
    if not words:
        raise InvalidArgument("template: empty action")
    if words[0] == "json" and len(words) == 2:
        return fastjson.dumps(_lookup(data, words[1]))
    if words[0] == "index" and len(words) == 3:
        container = _lookup(data, words[1])
        key = words[2].strip('"')
        if isinstance(container, list):
            return go_string(container[int(key)])
        return go_string((container or {}).get(key))
    if len(words) == 1 and words[0].startswith("."):
        return go_string(_lookup(data, words[0]))
    raise InvalidArgument(f"template: unsupported action {{{{{action}}}}}")


def render(template: str, data: object) -> str:
    out = []
    rest = template
    while "{{" in rest:
        before, _, after = rest.partition("{{")
        action, sep, rest = after.partition("}}")
        if not sep:
            raise InvalidArgument(f"template: unclosed action in {template!r}")
        out.append(before)
        out.append(_action(action.strip().strip("-").strip(), data))
    out.append(rest)
    return "".join(out)


def format_rows(fmt: str, rows: list[dict], headers: dict[str, str]) -> str:
    """docker's --format TEMPLATE for listings: a line per row; "table TEMPLATE" adds the headers
    (the template rendered over `headers`) and aligns the tab-separated cells as docker's tabwriter."""
    from berth.tables import render as align

    table = fmt.startswith("table ")
    template = (fmt[len("table ") :] if table else fmt).replace("\\t", "\t").replace("\\n", "\n")
    lines = [render(template, r) for r in rows]
    if not table:
        return "".join(line + "\n" for line in lines)
    return align([line.split("\t") for line in [render(template, headers), *lines]], min_width=10, padding=3)


def format_documents(fmt: str, docs: list) -> str:
    """docker's `inspect -f`: each document through the template, a line each; without one (or
    with `-f json`) all of them as one JSON array, indented as docker's."""
    if fmt and fmt != "json":
        return "".join(render(fmt, d) + "\n" for d in docs)
    import json

    return json.dumps(docs, indent=4) + "\n"
