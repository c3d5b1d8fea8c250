"""Writing plots: matplotlib on its file-only backend, figures saved atomically as PNG."""

from __future__ import annotations

import io
from pathlib import Path

from .outputs import atomic_write_bytes


def pyplot():
    """`matplotlib.pyplot` on the Agg backend (files only, no display), imported on first use: it is slow to
    import and most calls never plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: str | Path, dpi: int = 120) -> Path:
    """Write `figure` to `path` as PNG, atomically, and close it."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(figure)
    return atomic_write_bytes(path, buffer.getvalue())
