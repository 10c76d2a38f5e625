"""Report plots as inline PNG data URIs (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

KEPT, DROPPED, LINE = "#2f7ed8", "#d8572f", "#222222"


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def histogram(edges: np.ndarray, kept: np.ndarray, dropped: np.ndarray, title: str, unit: str,
              lines: list[tuple[float, str]]) -> str:
    """Stacked histogram of kept and dropped clips, counted beforehand on the bins ``edges`` (``len(edges) - 1``
    counts each), with each threshold drawn and labelled."""
    fig, ax = plt.subplots(figsize=(6.4, 2.8))
    edges = np.asarray(edges, np.float64)
    kept, dropped = np.asarray(kept, np.float64), np.asarray(dropped, np.float64)
    if kept.sum() + dropped.sum() > 0:
        centers = (edges[:-1] + edges[1:]) / 2
        ax.hist([centers, centers], bins=edges, weights=[kept, dropped], stacked=True, color=[KEPT, DROPPED],
                label=["kept", "dropped"])
    for x, label in lines:
        ax.axvline(x, color=LINE, linestyle="--", linewidth=1.2)
        ax.annotate(label, (x, 1), xycoords=("data", "axes fraction"), rotation=90, va="top", ha="right",
                    fontsize=7, color=LINE)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(unit, fontsize=8)
    ax.set_ylabel("clips", fontsize=8)
    ax.tick_params(labelsize=7)
    if kept.sum() + dropped.sum() > 0:
        ax.legend(fontsize=7, frameon=False)
    return _png(fig)


def funnel(steps: list[tuple[str, int]]) -> str:
    """Clips remaining after each rule, applied in order (the first step is all clips)."""
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(steps) + 0.8))
    labels = [s for s, _ in steps][::-1]
    counts = [c for _, c in steps][::-1]
    ax.barh(labels, counts, color=KEPT)
    for y, c in enumerate(counts):
        ax.annotate(f"{c:,}", (c, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_xlabel("clips remaining", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.set_xlim(0, max(counts) * 1.15 if counts and max(counts) else 1)
    return _png(fig)


def overlap(names: list[str], matrix: np.ndarray) -> str:
    """Clips dropped by both rule i and rule j (diagonal: by rule i at all)."""
    size = 1.2 + 0.55 * len(names)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    ax.imshow(matrix, cmap="Oranges")
    ax.set_xticks(range(len(names)), names, rotation=40, ha="right", fontsize=7)
    ax.set_yticks(range(len(names)), names, fontsize=7)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, f"{matrix[i, j]:,}", ha="center", va="center", fontsize=7)
    ax.set_title("clips dropped by both rules", fontsize=9)
    return _png(fig)


def bars(labels: list[str], counts: list[int], title: str, xlabel: str) -> str:
    fig, ax = plt.subplots(figsize=(6.4, 2.6))
    ax.bar(range(len(labels)), counts, color=KEPT)
    ax.set_xticks(range(len(labels)), labels, rotation=40 if len(labels) > 6 else 0, ha="right", fontsize=7)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel("clips", fontsize=8)
    ax.tick_params(labelsize=7)
    return _png(fig)
