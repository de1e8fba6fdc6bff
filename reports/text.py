"""Plain-text tables: the one way the command line and the reports align columns."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def columns(
    headers: Sequence[object], rows: Iterable[Sequence[object]], *, rule: bool = False
) -> list[str]:
    """``headers``, then each row, as lines of left-aligned columns two spaces apart.

    Every cell is shown as ``str`` of it; a column is as wide as its widest
    cell, and no line ends in spaces. With ``rule``, a line of dashes as wide
    as each column follows the headers. Every row has one cell per header.
    """
    cells = [[str(c) for c in headers], *([str(c) for c in row] for row in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    if rule:
        lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


__all__ = ["columns"]
