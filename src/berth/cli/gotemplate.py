"""The part of Go's text/template that `docker inspect -f` and `--format` users rely on: `{{.A.B}}`,
literal text, `{{json .A}}`, `{{index .A "k"}}`, `{{join .A ","}}`, `{{upper .A}}`, `{{lower .A}}`,
`{{range .A}}...{{end}}` (the dot is each element; a map's values in key order), `{{range $k, $v
:= .A}}` with its variables, `{{if .A}}...{{else}}...{{end}}`, and `{{- ... -}}` trimming."""

from __future__ import annotations

from berth import fastjson
from berth.errors import InvalidArgument


def _lookup(value: object, path: str, scope: dict[str, object] | None = None) -> object:
    if path.startswith("$"):
        name, _, rest = path.partition(".")
        if scope is None or name not in scope:
            raise InvalidArgument(f'template: undefined variable "{name}"')
        return _lookup(scope[name], "." + rest if rest else ".")
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


def _truth(value: object) -> bool:
    """Go's: false, 0, nil, and empty strings, lists and maps are false (as Python's)."""
    return bool(value)


def _value(action: str, data: object, scope: dict[str, object]) -> object:
    """The value of a pipeline without its printing: a field, a variable or a function call."""
    words = _words(action)
    if not words:
        raise InvalidArgument("template: empty action")
    args = words[1:]

    def arg(i: int) -> object:
        word = args[i]
        if word.startswith('"'):
            return word.strip('"')
        return _lookup(data, word, scope)

    if words[0] == "json" and len(args) == 1:
        return _Raw(fastjson.dumps(arg(0)))
    if words[0] == "index" and len(args) == 2:
        container, key = arg(0), args[1].strip('"')
        if isinstance(container, list):
            return container[int(key)]
        return (container or {}).get(key)
    if words[0] == "join" and len(args) == 2:
        return str(arg(1)).join(go_string(v) for v in arg(0) or [])
    if words[0] in ("upper", "lower") and len(args) == 1:
        text = go_string(arg(0))
        return text.upper() if words[0] == "upper" else text.lower()
    if len(words) == 1 and (words[0].startswith(".") or words[0].startswith("$")):
        return _lookup(data, words[0], scope)
    raise InvalidArgument(f"template: unsupported action {{{{{action}}}}}")


class _Raw(str):
    """Text printed as it is (json's output), not through go_string."""


def _words(action: str) -> list[str]:
    out, word, quoted = [], "", False
    for ch in action:
        if ch == '"':
            quoted = not quoted
            word += ch
        elif ch.isspace() and not quoted:
            if word:
                out.append(word)
            word = ""
        else:
            word += ch
    if quoted:
        raise InvalidArgument(f"template: unterminated quoted string in {{{{{action}}}}}")
    return out + ([word] if word else [])


def _tokens(template: str) -> list[tuple[str, str]]:
    """("text", ...) and ("action", ...) in order, with {{- and -}} trimming the text beside them."""
    out: list[tuple[str, str]] = []
    rest = template
    while "{{" in rest:
        before, _, after = rest.partition("{{")
        action, sep, rest = after.partition("}}")
        if not sep:
            raise InvalidArgument(f"template: unclosed action in {template!r}")
        if action.startswith("-"):
            before = before.rstrip()
        if action.endswith("-"):
            rest = rest.lstrip()
        out.append(("text", before))
        out.append(("action", action.strip("-").strip()))
    out.append(("text", rest))
    return out


def _parse(tokens: list[tuple[str, str]], i: int, ends: tuple[str, ...]) -> tuple[list, int, str]:
    """Nodes up to one of `ends` (an {{end}} or {{else}}): (nodes, the index after it, which)."""
    nodes: list = []
    while i < len(tokens):
        kind, value = tokens[i]
        i += 1
        if kind == "text":
            nodes.append(("text", value))
            continue
        head = value.split(None, 1)[0] if value else ""
        if head in ends:
            return nodes, i, head
        if head in ("range", "if"):
            body, i, closer = _parse(tokens, i, ("end", "else"))
            other: list = []
            if closer == "else":
                other, i, closer = _parse(tokens, i, ("end",))
            if closer != "end":
                raise InvalidArgument(f"template: unexpected EOF: {{{{{head}}}}} without {{{{end}}}}")
            nodes.append((head, value[len(head) :].strip(), body, other))
        elif head in ("end", "else"):
            raise InvalidArgument(f"template: unexpected {{{{{head}}}}}")
        else:
            nodes.append(("action", value))
    return nodes, i, ""


def _run(nodes: list, data: object, scope: dict[str, object], out: list[str]) -> None:
    for node in nodes:
        kind = node[0]
        if kind == "text":
            out.append(node[1])
        elif kind == "action":
            value = _value(node[1], data, scope)
            out.append(value if isinstance(value, _Raw) else go_string(value))
        elif kind == "if":
            _run(node[2] if _truth(_value(node[1], data, scope)) else node[3], data, scope, out)
        else:  # range
            _range(node, data, scope, out)


def _range(node: tuple, data: object, scope: dict[str, object], out: list[str]) -> None:
    pipeline, body, other = node[1], node[2], node[3]
    names: list[str] = []
    if ":=" in pipeline:
        declared, _, pipeline = pipeline.partition(":=")
        names = [n.strip() for n in declared.split(",")]
        if not 1 <= len(names) <= 2 or not all(n.startswith("$") for n in names):
            raise InvalidArgument(f"template: bad range declaration {declared.strip()!r}")
    items = _value(pipeline.strip(), data, scope)
    if isinstance(items, dict):
        pairs = sorted(items.items())
    elif isinstance(items, list):
        pairs = list(enumerate(items))
    elif items is None:
        pairs = []
    else:
        raise InvalidArgument(f"template: range can't iterate over {go_string(items)}")
    if not pairs:
        _run(other, data, scope, out)
        return
    for key, item in pairs:
        inner = dict(scope)
        if len(names) == 1:
            inner[names[0]] = item
        elif len(names) == 2:
            inner[names[0]], inner[names[1]] = key, item
        _run(body, item, inner, out)


def render(template: str, data: object) -> str:
    nodes, _, _ = _parse(_tokens(template), 0, ())
    out: list[str] = []
    _run(nodes, data, {"$": data}, out)
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
