"""The multi-rate cascade (SVD recipe): PySceneDetect content scores at several frame steps.

Level 1 (native rate) finds hard cuts with AdaptiveDetector's rule (a score that stands out from its
neighbours). Slower levels compare frames ``k`` apart, where a slow transition (fade, dissolve) adds up to a
large change; a *coherence* test tells it from motion: during a transition the per-frame changes all point
the same way, so the ``k``-step score is close to the sum of the ``k`` one-step scores, while motion and noise
largely cancel.

In ``hybrid`` mode every threshold is first relaxed by ``candidate_ratio`` to propose candidates; those above
``confident_ratio`` times the threshold are accepted as they are, the rest are judged by TransNetV2 on a short
window around each one, so the network runs on a small fraction of the frames. ``fast`` mode uses the plain
thresholds and no network.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curation.config import CutsConfig
from curation.detectors.base import Boundary, FrameFeatures, ShotDetector
from curation.detectors.scores import ContentScorer, adaptive_ratio
from curation.detectors.transnetv2 import JUDGE_WINDOW, TransNetV2Model, transition_runs

# A k-step score at least this fraction of the sum of its one-step scores counts as coherent change.
COHERENCE = 0.6
# A slow-level step whose biggest one-step score carries this share of it is a hard cut, found at level 1.
CUT_SHARE = 0.6
# Frames of slack around a candidate in which TransNetV2 may place the boundary.
JUDGE_SLACK = 3


@dataclass(frozen=True)
class _Candidate:
    start: int
    end: int
    score: float
    confident: bool
    source: str


class CascadeDetector(ShotDetector):
    def __init__(self, config: CutsConfig, model: TransNetV2Model | None = None):
        if config.detector == "hybrid" and model is None:
            raise ValueError("hybrid cut detection needs the TransNetV2 model")
        self._config = config
        self._model = model if config.detector == "hybrid" else None
        self.name = f"cascade-{config.detector}"
        self.needs_tiny = self._model is not None
        self._scorers = [ContentScorer(step) for step in config.levels]
        self._tiny: list[np.ndarray] = []
        self._recent: list[float] = []

    # -- streaming -----------------------------------------------------------------------------------
    def push(self, features: FrameFeatures) -> list[int]:
        level1 = None
        for scorer in self._scorers:
            score = scorer.push(features.index, features.bgr)
            if scorer.step == 1:
                level1 = score
        if self.needs_tiny:
            self._tiny.append(features.tiny_rgb)
        # Causal version of the level-1 cut rule, so the caller keeps the frames next to likely cuts.
        c = self._config
        window = self._recent[-c.window_width:]
        mean = sum(window) / len(window) if window else 0.0
        self._recent.append(level1)
        if len(self._recent) > 4 * c.window_width:
            del self._recent[: -2 * c.window_width]
        if level1 >= c.min_content_val and level1 >= c.adaptive_threshold * max(mean, 1e-3):
            return [features.index]
        return []

    # -- decisions -----------------------------------------------------------------------------------
    def _level1_candidates(self, scores: np.ndarray, relax: float) -> list[_Candidate]:
        c = self._config
        ratio = adaptive_ratio(scores, c.window_width)
        hits = np.nonzero((ratio >= c.adaptive_threshold * relax) & (scores >= c.min_content_val * relax))[0]
        out = []
        for i in hits:
            if i == 0:
                continue
            confident = bool(ratio[i] >= c.adaptive_threshold * c.confident_ratio
                             and scores[i] >= c.min_content_val * c.confident_ratio)
            out.append(_Candidate(int(i), int(i), float(scores[i]), confident, "level1"))
        return out

    def _slow_candidates(self, level1: np.ndarray, relax: float) -> list[_Candidate]:
        c = self._config
        prefix = np.concatenate([[0.0], np.cumsum(level1)])
        spans: list[_Candidate] = []
        for scorer in self._scorers[1:]:
            k = scorer.step
            indices, scores = scorer.arrays()
            flagged = []
            for i, s in zip(indices, scores):
                if i < k:
                    continue
                one_step = level1[i - k + 1:i + 1]
                total = prefix[i + 1] - prefix[i - k + 1]
                if s < c.slow_threshold * relax or total <= 0 or s < COHERENCE * total:
                    continue
                if one_step.max() >= CUT_SHARE * s:
                    continue
                flagged.append((int(i), float(s)))
            # Consecutive flagged steps are one transition: frames (first - k, last].
            run: list[tuple[int, float]] = []
            for item in flagged + [(None, 0.0)]:
                if run and (item[0] is None or item[0] - run[-1][0] > k):
                    start, end = run[0][0] - k + 1, run[-1][0]
                    score = max(s for _, s in run)
                    confident = score >= c.slow_threshold * c.confident_ratio and len(run) > 1
                    spans.append(_Candidate(start, end + 1, score, confident, f"level{k}"))
                    run = []
                if item[0] is not None:
                    run.append(item)
        return spans

    def _judge(self, candidates: list[_Candidate]) -> list[Boundary]:
        """TransNetV2 on one window per group of nearby candidates; keeps the transitions it confirms."""
        tiny = np.stack(self._tiny)
        threshold = self._config.transnetv2_threshold
        # Candidates whose spans fit in the trusted middle half of one window share it.
        groups: list[list[_Candidate]] = []
        for cand in sorted(candidates, key=lambda x: x.start):
            if groups and cand.end - groups[-1][0].start <= JUDGE_WINDOW // 2:
                groups[-1].append(cand)
            else:
                groups.append([cand])
        centers = [(g[0].start + g[-1].end) // 2 for g in groups]
        accepted = []
        for group, (first, probs) in zip(groups, self._model.predict_windows(tiny, centers)):
            runs = transition_runs(probs, threshold, offset=first, source="transnetv2")
            for cand in group:
                for b in runs:
                    if b.end >= cand.start - JUDGE_SLACK and b.start <= cand.end + JUDGE_SLACK:
                        accepted.append(Boundary(b.start, b.end, b.score, f"transnetv2<{cand.source}"))
        return accepted

    def finish(self) -> list[Boundary]:
        c = self._config
        _, level1 = self._scorers[0].arrays()
        if len(level1) < 2:
            return []
        relax = c.candidate_ratio if self._model is not None else 1.0
        candidates = self._level1_candidates(level1, relax) + self._slow_candidates(level1, relax)
        boundaries = [Boundary(x.start, x.end, x.score, x.source) for x in candidates
                      if x.confident or self._model is None]
        doubtful = [x for x in candidates if not x.confident and self._model is not None]
        if doubtful:
            boundaries += self._judge(doubtful)
        return merge_boundaries(boundaries, c.min_shot_frames)

    def describe(self) -> dict:
        c = self._config
        params = {
            "detector": self.name, "levels": list(c.levels), "analysis_width": c.analysis_width,
            "adaptive_threshold": c.adaptive_threshold, "window_width": c.window_width,
            "min_content_val": c.min_content_val, "slow_threshold": c.slow_threshold,
            "min_shot_frames": c.min_shot_frames,
        }
        if self._model is not None:
            params.update(candidate_ratio=c.candidate_ratio, confident_ratio=c.confident_ratio,
                          transnetv2_threshold=c.transnetv2_threshold)
        return params


def merge_boundaries(boundaries: list[Boundary], min_gap: int) -> list[Boundary]:
    """Sort, and merge boundaries that overlap or leave fewer than ``min_gap`` frames between them
    (a flash or a detector seeing one transition twice) into one transition."""
    merged: list[Boundary] = []
    for b in sorted(boundaries, key=lambda x: (x.start, x.end)):
        if b.end <= 0:
            continue
        if merged and b.start - merged[-1].end < min_gap:
            last = merged[-1]
            if last.is_cut and b.is_cut and b.start - last.start <= 2:
                # One cut seen twice a frame or two apart: keep the stronger position.
                merged[-1] = last if last.score >= b.score else b
            else:
                # A flash, or a transition seen at several levels: one transition over all of it.
                merged[-1] = Boundary(min(last.start, b.start), max(last.end, b.end),
                                      max(last.score, b.score), last.source)
            continue
        merged.append(b)
    return merged
