"""Aligned text tables as Go's tabwriter prints them (runc list, docker ps)."""


def render(rows: list[list[str]], min_width: int = 0, padding: int = 3) -> str:
    widths = [0] * max(len(r) for r in rows)
    for r in rows:
        for i, cell in enumerate(r[:-1]):
            widths[i] = max(widths[i], len(cell) + padding, min_width)
    out = []
    for r in rows:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(r[:-1])] + [r[-1]]
        out.append("".join(cells).rstrip())
    return "\n".join(out) + "\n"
