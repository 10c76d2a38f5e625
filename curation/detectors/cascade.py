"""The multi-rate cascade (SVD recipe): PySceneDetect content scores at several frame steps.

Level 1 (native rate) finds hard cuts with AdaptiveDetector's rule (a score that stands out from its
neighbours). Slower levels compare frames ``k`` apart, where a slow transition (fade, dissolve) adds up to a
large change; a *coherence* test tells it from motion: during a transition the per-frame changes all point
the same way, so the ``k``-step score is close to the sum of the ``k`` one-step scores, while motion and noise
largely cancel.

``fast`` mode uses the plain thresholds and no network. In ``hybrid`` mode the slow levels are decided the same
way (the coherence test is reliable; TransNetV2 on a short window is not, for slow fades), and at the native
level a candidate's *margin* (the smaller of its score over ``min_content_val`` and its adaptive ratio over
``adaptive_threshold``; 1.0 is exactly the fast rule) decides: at or above ``confident_ratio`` it is accepted,
below ``candidate_ratio`` it is dropped, and in between TransNetV2 judges it on a ``judge_window``-frame window,
unless it lies inside a slow transition already found (it would merge into it anyway). TransNetV2 costs about
as much per frame as decoding 720p H.264 several times over on CPU, so the band is kept narrow and the windows
short: on real footage a few windows per minute.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from curation.config import CutsConfig
from curation.detectors.base import Boundary, FrameFeatures, ShotDetector
from curation.detectors.luma import LumaScorer, hold_aware_ratio
from curation.detectors.scores import ContentScorer, adaptive_ratio
from curation.detectors.transnetv2 import TransNetV2Model, transition_runs

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
        self._luma = LumaScorer()
        self._tiny: list[np.ndarray] = []
        self._recent: list[float] = []
        self._recent_luma: list[float] = []

    # -- streaming -----------------------------------------------------------------------------------
    def push(self, features: FrameFeatures) -> list[int]:
        level1 = None
        for scorer in self._scorers:
            score = scorer.push(features.index, features.bgr)
            if scorer.step == 1:
                level1 = score
        gray = features.gray if features.gray is not None else cv2.cvtColor(features.bgr, cv2.COLOR_BGR2GRAY)
        luma = self._luma.push(features.index, LumaScorer.prepare(gray))
        if self.needs_tiny:
            self._tiny.append(features.tiny_rgb)
        # Causal version of the level-1 cut rules, so the caller keeps the frames next to likely cuts.
        c = self._config
        hsv_hit = _causal_hit(self._recent, level1, c.min_content_val, c)
        luma_hit = _causal_hit(self._recent_luma, luma, c.luma_floor, c)
        return [features.index] if hsv_hit or luma_hit else []

    # -- decisions -----------------------------------------------------------------------------------
    def _level1_candidates(self, scores: np.ndarray, relax: float) -> list[_Candidate]:
        """Frames whose margin over the plain rule is at least ``relax``; confident at ``confident_ratio``.

        The margin is the larger of two sources' margins: the HSV content score (AdaptiveDetector's rule:
        the smaller of score / min_content_val and adaptive ratio / adaptive_threshold, the ratio taken
        against neighbours that show a new picture, so held frames do not make every change a spike) and the aligned luma
        change (the same rule with ``luma_floor``, and the changed area over ``luma_min_area``, so a caption
        or a small object appearing on a still shot is not a cut). A candidate whose picture comes back within a few frames
        (``persist < flash_share * change``) is a flash or a strobe, not a cut, whatever its margin."""
        c = self._config
        change, persist = self._luma.arrays()
        hsv = np.minimum(hold_aware_ratio(scores, c.window_width) / c.adaptive_threshold,
                         scores / c.min_content_val)
        luma = np.minimum.reduce([hold_aware_ratio(change, c.window_width) / c.adaptive_threshold,
                                  change / c.luma_floor, self._luma.area() / c.luma_min_area])
        margin = np.maximum(hsv, luma)
        flash = persist < c.flash_share * change
        out = []
        for i in np.nonzero((margin >= relax) & ~flash)[0]:
            if i == 0:
                continue
            source = "level1" if hsv[i] >= luma[i] else "luma"
            out.append(_Candidate(int(i), int(i), float(scores[i]), bool(margin[i] >= c.confident_ratio), source))
        return out

    def _slow_candidates(self, level1: np.ndarray) -> list[_Candidate]:
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
                if s < c.slow_threshold or total <= 0 or s < COHERENCE * total:
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
                    spans.append(_Candidate(start, end + 1, score, True, f"level{k}"))
                    run = []
                if item[0] is not None:
                    run.append(item)
        return spans

    def _judge(self, candidates: list[_Candidate]) -> list[Boundary]:
        """TransNetV2 on one short window per group of nearby candidates (all windows in one batch); keeps
        the transitions it confirms."""
        window = self._config.judge_window
        groups: list[list[_Candidate]] = []
        for cand in sorted(candidates, key=lambda x: x.start):
            # Candidates that fit in the middle half of one window share it.
            if groups and cand.end - groups[-1][0].start <= window // 2:
                groups[-1].append(cand)
            else:
                groups.append([cand])
        centers = [(g[0].start + g[-1].end) // 2 for g in groups]
        tiny = np.stack(self._tiny)
        accepted = []
        for group, (first, probs) in zip(groups, self._model.predict_windows(tiny, centers, window)):
            runs = transition_runs(probs, self._config.transnetv2_threshold, offset=first, source="transnetv2")
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
        hybrid = self._model is not None
        slow = self._slow_candidates(level1)
        native = self._level1_candidates(level1, c.candidate_ratio if hybrid else 1.0)
        accepted = slow + [x for x in native if x.confident or not hybrid]
        boundaries = [Boundary(x.start, x.end, x.score, x.source) for x in accepted]
        if hybrid:
            gap = c.min_shot_frames
            doubtful = [x for x in native if not x.confident
                        and not any(s.start - gap <= x.start <= s.end + gap for s in slow)]
            if doubtful:
                boundaries += self._judge(doubtful)
        return merge_boundaries(boundaries, c.min_shot_frames)

    def describe(self) -> dict:
        c = self._config
        params = {
            "detector": self.name, "levels": list(c.levels), "analysis_width": c.analysis_width,
            "adaptive_threshold": c.adaptive_threshold, "window_width": c.window_width,
            "min_content_val": c.min_content_val, "slow_threshold": c.slow_threshold,
            "min_shot_frames": c.min_shot_frames, "luma_floor": c.luma_floor,
            "luma_min_area": c.luma_min_area, "flash_share": c.flash_share,
        }
        if self._model is not None:
            params.update(candidate_ratio=c.candidate_ratio, confident_ratio=c.confident_ratio,
                          judge_window=c.judge_window, transnetv2_threshold=c.transnetv2_threshold)
        return params


def _causal_hit(recent: list[float], score: float, floor: float, c: CutsConfig) -> bool:
    """The cut rule on past scores only (updates ``recent``): over ``floor`` and ``adaptive_threshold`` times
    the mean of the last ``window_width`` scores."""
    window = recent[-c.window_width:]
    mean = sum(window) / len(window) if window else 0.0
    recent.append(score)
    if len(recent) > 4 * c.window_width:
        del recent[: -2 * c.window_width]
    return score >= floor and score >= c.adaptive_threshold * max(mean, 1e-3)


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
