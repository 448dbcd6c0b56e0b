"""Plain-text tables, as the command line and the demo print them.

It imports nothing of the command line, so the demo prints with it without importing the commands.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

__all__ = ["cut", "print_table"]


def print_table(rows: Sequence[Sequence[str]], headers: Sequence[str], out: TextIO, width: int = 36) -> None:
    """Print rows as a plain-text table, cutting cells longer than `width`."""
    cells = [[cut(cell, width) for cell in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in cells)]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for row in cells:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(), file=out)
    out.flush()


def cut(text: str, width: int) -> str:
    """Return `text` on one line, cut to `width` characters with an ellipsis when longer."""
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
