"""The multi-rate cascade (SVD recipe): PySceneDetect content scores at several frame steps.

Level 1 (native rate) finds hard cuts with AdaptiveDetector's rule (a score that stands out from its
neighbours). Slower levels compare frames ``k`` apart, where a slow transition (fade, dissolve) adds up to a
large change; a *coherence* test tells it from motion: during a transition the per-frame changes all point
the same way, so the ``k``-step score is close to the sum of the ``k`` one-step scores, while motion and noise
largely cancel. Between shots that themselves move or shake, every one-step change also holds the shots' own
change; there a luma ``k``-step change that reaches ``COHERENCE`` of the sum and ``STANDS_OUT`` times the
windows on either side of it is a transition too.

Hard cuts have two sources at the native rate: the HSV content score and the aligned 64-px luma change
(:mod:`curation.annotate.shots.luma`), each with AdaptiveDetector's rule on a hold-aware ratio; a candidate whose
picture comes back within a few frames (a flash) or that lies between two black frames is never a cut. The
slow levels run on the HSV score every k-th frame and on the aligned luma every frame.

``fast`` mode takes every candidate over the plain rule and uses no network. In ``hybrid`` mode a native
candidate's *margin* (the larger of the two sources' margins; 1.0 is exactly the fast rule) decides: at or
above ``confident_ratio`` it is accepted, below ``candidate_ratio`` dropped, and in between TransNetV2 looks at
a ``judge_window``-frame window and its probability is fused with the margin, unless the candidate lies
inside a slow transition already found; it also looks, in longer windows, at stretches the luma slow level
found doubtful (over its threshold and ``COHERENCE`` of the sum, but taken by neither test). Changes inside a
shot are never boundaries, in either mode: a candidate that keeps most of the picture (a graphic, a caption,
a picture-in-picture inset or half of a split screen changing; ``local_share``), a candidate or slow span
whose ends are one picture after removing gain and offset (an exposure change; ``same_picture``), and a slow
span whose ends keep most of the picture.
Between two grey-scale pictures the network is blind (trained on colour footage, it gives cuts between
framings of one subject on one grey backdrop < 0.02), so there the plain rule (margin >= 1) decides without
it. TransNetV2 costs several 720p decodes per frame on CPU, so the band
is kept narrow and the windows short: on real footage a few windows per minute.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from curation.annotate.config import CutsConfig
from curation.annotate.shots.base import Boundary, FrameFeatures, ShotDetector, tiny_picture
from curation.annotate.shots.luma import GRAPHICS_CUT_AREA, HELD_LUMA_MAX, LumaScorer, hold_aware_ratio
from curation.annotate.shots.scores import ContentScorer
from curation.annotate.shots.transnetv2 import TransNetV2Model, transition_runs

# A k-step score at least this fraction of the sum of its one-step scores counts as coherent change.
COHERENCE = 0.6
# The luma k-step change must be at least this share of its one-step changes (aligned luma cancels motion
# less than the HSV score does, so the bar is higher).
LUMA_COHERENCE = 0.8
# ... or at least COHERENCE of it where it is this many times the k-step change of the windows just before and
# just after it (a transition between moving or shaking shots).
STANDS_OUT = 2.0
# A slow-level step whose biggest one-step score carries this share of it is a hard cut, found at level 1.
CUT_SHARE = 0.6
# Frames of slack around a candidate in which TransNetV2 may place the boundary.
JUDGE_SLACK = 3
# Frames of context on each side of a doubtful gradual span in TransNetV2's windows (hybrid).
GRADUAL_PAD = 8
# Frames outside a slow span's ends also compared to tell a graphic changing from a transition.
SPAN_SLACK = 8
# A picture whose RGB channels differ by less than this on average (0..255) is grey-scale (black-and-white
# footage, or colour so faded that it carries no hue).
GREY_CHROMA = 6.0


@dataclass(frozen=True)
class _Candidate:
    start: int
    end: int
    score: float
    confident: bool
    source: str
    margin: float = 0.0


class CascadeDetector(ShotDetector):
    def __init__(self, config: CutsConfig, model: TransNetV2Model | None = None):
        if config.detector == "hybrid" and model is None:
            raise ValueError("hybrid cut detection needs the TransNetV2 model")
        self._config = config
        self._model = model if config.detector == "hybrid" else None
        self.name = f"cascade-{config.detector}"
        self._scorers = [ContentScorer(step) for step in config.levels]
        # The sliding luma slow level runs at the slowest cascade step only (k=4 fired on handheld shake).
        self._luma_steps = tuple(config.levels[-1:]) if len(config.levels) > 1 else ()
        self._luma = LumaScorer(self._luma_steps)
        # TransNetV2's pictures, per frame; None where no window can need one (:meth:`_keep_tiny`).
        self._tiny: list[np.ndarray | None] = []
        # A doubtful gradual span's windows (:meth:`_judge_gradual`) reach back a slow step and GRADUAL_PAD frames
        # from its first flagged frame (a window moved inside the video at its end: a whole window), and forward
        # GRADUAL_PAD frames and half a window from its last.
        window = max([2 * (k + GRADUAL_PAD) for k in self._luma_steps], default=0)
        self._tiny_pending: deque[tuple[int, np.ndarray]] = deque(maxlen=max(config.judge_window, window) + 1)
        self._gradual_reach = GRADUAL_PAD + window // 2 + 1
        self._tiny_until = -1
        self._recent: list[float] = []
        self._recent_luma: list[float] = []

    # -- streaming -----------------------------------------------------------------------------------
    def align(self, first_frame: int) -> None:
        for scorer in self._scorers:
            scorer.phase = first_frame

    def push(self, features: FrameFeatures) -> list[int]:
        level1 = None
        for scorer in self._scorers:
            score = scorer.push(features.index, features.bgr)
            if scorer.step == 1:
                level1 = score
        gray = features.gray if features.gray is not None else cv2.cvtColor(features.bgr, cv2.COLOR_BGR2GRAY)
        luma = self._luma.push(features.index, LumaScorer.prepare(gray))
        if self._model is not None:
            self._keep_tiny(features, level1)
        # Causal version of the level-1 cut rules, so the caller keeps the frames next to likely cuts.
        c = self._config
        hsv_hit = _causal_hit(self._recent, level1, c.min_content_val, c)
        luma_hit = _causal_hit(self._recent_luma, luma, c.luma_floor, c)
        return [features.index] if hsv_hit or luma_hit else []

    def _keep_tiny(self, features: FrameFeatures, level1: float) -> None:
        """Make TransNetV2's picture of the frames a judged window can hold, and of no other (on real footage
        about a quarter of them on the benchmark's inputs; the 48x27 area filter costs ~40 us a frame). A window holds frames at most
        ``judge_window`` from a doubtful candidate (:meth:`_judge`), and a candidate is doubtful only if its
        frame passes this causal superset of :meth:`_level1_candidates`' tests: a score of at least
        ``candidate_ratio`` times its floor (the HSV score; or the luma change, with its changed area), not
        local, not an exposure change. The last ``judge_window`` frames' pictures wait here until a later
        frame says whether they are needed."""
        c = self._config
        index = features.index
        change, area, kept, same = self._luma.latest()
        relax = c.candidate_ratio * (1.0 - 1e-9)  # the tests divide; this multiplies
        # (A frame keeping local_share, or one picture exposed differently, may still be a cut under graphics when
        # it changes GRAPHICS_CUT_AREA: whether what it keeps is graphics is known only luma.PERSIST_FRAMES later.)
        suspect = ((level1 >= relax * c.min_content_val
                    or (change >= relax * c.luma_floor and area >= relax * c.luma_min_area))
                   and ((kept < c.local_share and same < c.same_picture) or area >= relax * GRAPHICS_CUT_AREA))
        # A frame whose luma k-step change reaches the slow threshold and COHERENCE of its one-step sum, but not
        # LUMA_COHERENCE (that is a transition found without the network), may end a doubtful gradual span
        # (:meth:`_slow_luma_candidates`). (Its test that no one step is a hard cut's is left out: a later
        # re-alignment can lower those steps, and this must stay a superset.)
        gradual = False
        for k in self._luma_steps:
            slow, total = self._luma.latest_slow(k)
            gradual |= (slow >= relax * c.slow_luma_threshold
                        and relax * COHERENCE * total <= slow < LUMA_COHERENCE * total / relax)
        self._tiny.append(None)
        if suspect or gradual:
            for i, bgr in self._tiny_pending:
                self._tiny[i] = tiny_picture(bgr)
            self._tiny_pending.clear()
            self._tiny_until = max(self._tiny_until, index + (c.judge_window if suspect else self._gradual_reach))
        if index <= self._tiny_until:
            self._tiny[index] = tiny_picture(features.bgr)
        else:
            self._tiny_pending.append((index, features.bgr))

    # -- decisions -----------------------------------------------------------------------------------
    def _level1_candidates(self, scores: np.ndarray, relax: float) -> list[_Candidate]:
        """Frames whose margin over the plain rule is at least ``relax``; confident at ``confident_ratio``.

        The margin is the larger of two sources' margins, each AdaptiveDetector's rule (the smaller of the
        score over its floor and the adaptive ratio over ``adaptive_threshold``), the ratio taken against
        neighbours that show a new picture, so held frames do not make every change a spike:
        - the HSV content score, floor ``min_content_val``;
        - the aligned luma change, floor ``luma_floor``, and the changed area over ``luma_min_area`` (a
          caption or a small object appearing on a still shot is not a cut).
        A candidate whose picture comes back within a few frames (``persist < flash_share * change``) is a
        flash or a strobe, one between two black frames is noise, and one whose two frames correlate by
        ``same_picture`` where a gain and offset explain their change is one picture exposed differently:
        none is ever a cut. One that keeps ``local_share`` of the frame (textured cells unchanged: a graphic, caption,
        inset or half of a split screen changed) is *local*: never a cut either (TransNetV2 marks a split
        screen's half cutting as a cut, so it is not asked)."""
        c = self._config
        change, persist = self._luma.arrays()
        area = self._luma.area()
        # What a change of most of the frame keeps must be live picture, not graphics on screen, for it to be
        # local: a cut under a channel's bars, logo, ticker and subtitles keeps those, and only those.
        graphic = self._luma.graphic()  # 0 where a candidate changes less than GRAPHICS_CUT_AREA
        local = self._luma.kept() - graphic >= c.local_share
        exposure = self._luma.similarity() >= c.same_picture
        # ... and the same picture exposed differently must be so without them (two dark shots under a lower
        # third correlate through the lower third).
        for i in np.nonzero(exposure & (graphic > 0))[0]:
            exposure[i] = self._luma.similarity_without_graphics(int(i)) >= c.same_picture
        hsv = np.minimum(hold_aware_ratio(scores, c.window_width, np.inf) / c.adaptive_threshold,
                         scores / c.min_content_val)
        luma = np.minimum.reduce([hold_aware_ratio(change, c.window_width, HELD_LUMA_MAX) / c.adaptive_threshold,
                                  change / c.luma_floor, area / c.luma_min_area])
        margin = np.maximum(hsv, luma)
        flash = persist < c.flash_share * change
        # Between two black frames nothing cuts (the HSV score of near-black pixels is hue and saturation
        # noise, large at the first frames of a fade from black).
        black = self._luma.black()
        dark_pair = np.zeros_like(flash)
        dark_pair[1:] = black[1:] & black[:-1]
        out = []
        for i in np.nonzero((margin >= relax) & ~flash & ~dark_pair & ~exposure & ~local)[0]:
            if i == 0:
                continue
            source = "level1" if hsv[i] >= luma[i] else "luma"
            out.append(_Candidate(int(i), int(i), float(scores[i]), bool(margin[i] >= c.confident_ratio), source,
                                  float(margin[i])))
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

    def _slow_luma_candidates(self) -> tuple[list[_Candidate], list[_Candidate]]:
        """Gradual transitions from the sliding k-step luma differences, by the same coherence test as the
        HSV slow levels. Sliding (every frame, not every k-th) finds a short wipe or fade wherever it falls;
        the transition is placed where all its flagged windows overlap.

        The one-step changes the test sums are the thumbnails' (:meth:`LumaScorer.thumb_change`): a wipe or
        dissolve into a shot that moves by a fraction of a pixel a frame (0.2 px at 64 px) adds about 3 grey
        levels a frame of the 64-px frames' change, and sixteen of those outweighed the transition (a wipe's
        16-step change of 35.8 against a 64-px sum of 59.4, 0.8 needed); a pan still changes its thumbnails by whole
        pixels every frame, so motion keeps failing the test.

        Also returns the *doubtful* spans (for TransNetV2 in ``hybrid``): runs of windows over the threshold, at
        least ``COHERENCE`` of their sum, that neither test took (a transition into a shot shaking more than the
        transition changes the picture), each over all its windows."""
        c = self._config
        change, _ = self._luma.arrays()
        prefix = np.concatenate([[0.0], np.cumsum(self._luma.thumb_change())])
        black = self._luma.black()
        spans: list[_Candidate] = []
        doubtful: list[_Candidate] = []
        for k in self._luma_steps:
            slow = self._luma.slow(k)
            n = len(slow)
            flagged = np.zeros(n, bool)
            maybe = np.zeros(n, bool)
            for i in range(k, n):
                s = slow[i]
                if s < c.slow_luma_threshold:
                    continue
                total = prefix[i + 1] - prefix[i - k + 1]
                if total <= 0 or change[i - k + 1:i + 1].max() >= CUT_SHARE * s:
                    continue
                # Shots that move or shake add their own change to every one-step change, so a transition
                # between them sums to more than its k-step change; it still changes the picture far more
                # than the windows on either side of it do.
                stands_out = (2 * k <= i < n - k and s >= STANDS_OUT * max(slow[i - k], slow[i + k])
                              and s >= COHERENCE * total)
                flagged[i] = s >= LUMA_COHERENCE * total or stands_out
                maybe[i] = not flagged[i] and s >= COHERENCE * total
            for first, last in _runs(flagged):
                # Windows (i - k, i] for i in [first, last] all hold the transition when it is shorter than k.
                a, b = (last - k + 1, first) if last - k + 1 <= first else (first - k + 1, last)
                for start, end in _tighten(max(0, a), b + 1, change, black):
                    spans.append(_Candidate(start, end, float(slow[first:last + 1].max()), True, f"luma{k}"))
            doubtful += [_Candidate(max(0, first - k + 1), last + 1, float(slow[first:last + 1].max()), False,
                                    f"luma{k}") for first, last in _runs(maybe)]
        return spans, doubtful

    def _judge(self, candidates: list[_Candidate]) -> list[Boundary]:
        """TransNetV2 on one short window per group of nearby candidates (all windows in one batch).

        The network's probability and the cascade's margin are fused rather than the network vetoing: a
        transition it marks (probability >= ``transnetv2_threshold``) is taken where it puts it; otherwise a
        candidate is kept when the highest probability next to it reaches the threshold scaled down by how
        far the candidate's margin has come through the doubtful band (a candidate just under
        ``confident_ratio`` needs little support, one just over ``candidate_ratio`` needs nearly the full
        threshold)."""
        c = self._config
        window = c.judge_window
        groups: list[list[_Candidate]] = []
        for cand in sorted(candidates, key=lambda x: x.start):
            # Candidates that fit in the middle half of one window share it.
            if groups and cand.end - groups[-1][0].start <= window // 2:
                groups[-1].append(cand)
            else:
                groups.append([cand])
        centers = [(g[0].start + g[-1].end) // 2 for g in groups]
        tiny = self._tiny
        accepted = []
        for group, (first, probs) in zip(groups, self._model.predict_windows(tiny, centers, window)):
            runs = transition_runs(probs, c.transnetv2_threshold, offset=first, source="transnetv2")
            for cand in group:
                confirmed = [b for b in runs
                             if b.end >= cand.start - JUDGE_SLACK and b.start <= cand.end + JUDGE_SLACK]
                accepted += [Boundary(b.start, b.end, b.score, f"transnetv2<{cand.source}") for b in confirmed]
                if confirmed:
                    continue
                if cand.margin >= 1.0 and _grey(tiny, cand.start):
                    # TransNetV2 is blind to cuts between grey-scale shots (trained on colour footage; on
                    # one subject against one grey backdrop it gives them < 0.02): the plain rule decides.
                    accepted.append(Boundary(cand.start, cand.end, cand.score, f"grey<{cand.source}"))
                    continue
                # TransNetV2 marks the last frame of the outgoing shot: frame start - 1 for this candidate.
                lo, hi = max(0, cand.start - 1 - JUDGE_SLACK - first), max(0, cand.end + JUDGE_SLACK - first)
                support = float(probs[lo:hi].max()) if hi > lo else 0.0
                progress = (cand.margin - c.candidate_ratio) / max(c.confident_ratio - c.candidate_ratio, 1e-9)
                if support >= c.transnetv2_threshold * (1.0 - min(max(progress, 0.0), 1.0)):
                    accepted.append(Boundary(cand.start, cand.end, support, f"fused<{cand.source}"))
        return accepted

    def _ends_same(self, span: _Candidate | Boundary, cuts: list[int]) -> bool:
        """Are a slow span's two ends one picture after removing gain and offset (``same_picture``), they and
        the frames up to ``SPAN_SLACK`` outside them (not across a hard cut) compared: every pairing of an end
        with an end? A span found inside a transition longer than the slow step has ends a few frames apart in
        the blend, which are one picture exposed differently; the frames outside it are not."""
        first, last = self._outer_ends(span, cuts)
        return all(self._luma.ends_similarity(a, b) >= self._config.same_picture
                   for a in {span.start - 1, first} for b in {span.end, last})

    def _outer_ends(self, span: _Candidate | Boundary, cuts: list[int]) -> tuple[int, int]:
        """The frames ``SPAN_SLACK`` outside a slow span's ends, or the nearest hard cut's frames."""
        first = max([span.start - 1 - SPAN_SLACK] + [i for i in cuts if i <= span.start - 1])
        last = min([span.end + SPAN_SLACK] + [i - 1 for i in cuts if i > span.end])
        return first, last

    def _ends_keep(self, span: _Candidate | Boundary, cuts: list[int]) -> bool:
        """Do a slow span's two ends keep at least ``local_share`` of the picture, they and the frames up to
        ``SPAN_SLACK`` outside them (not across a hard cut) compared: every pairing of an end with an end?"""
        first, last = self._outer_ends(span, cuts)
        return all(self._luma.ends_keep(a, b, self._config.local_share)
                   for a in {span.start - 1, first} for b in {span.end, last})

    def finish(self) -> list[Boundary]:
        c = self._config
        _, level1 = self._scorers[0].arrays()
        if len(level1) < 2:
            return []
        hybrid = self._model is not None
        native = self._level1_candidates(level1, c.candidate_ratio if hybrid else 1.0)
        cuts = [x.start for x in native if x.confident]
        # A luma span holding a confident hard cut is a run of cuts (a dense montage), not a transition; a
        # cut at its very first frame is where a fade from black begins (the span absorbs it).
        luma_spans, luma_doubtful = self._slow_luma_candidates()
        luma_slow = [x for x in luma_spans if not any(x.start + 1 < i <= x.end for i in cuts)]
        black = self._luma.black()
        # The HSV coherence test mistakes fast motion for a transition; a span over which the picture moved
        # out of its own frame is motion, and so is one whose every frame is the one before it moved by whole
        # pixels (a fast pan onto a flat wall changes the colours coherently while the luma stays aligned).
        hsv_slow = [_Candidate(a, b, x.score, x.confident, x.source) for x in self._slow_candidates(level1)
                    if not self._luma.moved_apart(x.start, x.end)
                    and not self._luma.tracked(x.start, x.end, c.luma_floor)
                    for a, b in _split_at_black(x.start, x.end, black)]
        # A span whose two ends are the same picture after removing gain and offset is an exposure change
        # (or flicker) over several frames (a fade from or to black has a black end, which matches nothing),
        # and one whose ends keep most of the picture is a graphic, a caption or an inset changing, sliding
        # in or cutting while the camera drifts (the drift adds up over k frames to a coherent-looking
        # change): neither is a transition. A span's ends may sit inside the transition (a wipe's half-way
        # picture keeps the part not yet wiped), so frames outside them are compared too (:meth:`_ends_keep`).
        slow = [x for x in hsv_slow + luma_slow if not self._ends_same(x, cuts) and not self._ends_keep(x, cuts)]
        accepted = slow + [x for x in native if x.confident or not hybrid]
        boundaries = [Boundary(x.start, x.end, x.score, x.source) for x in accepted]
        if hybrid:
            gap = c.min_shot_frames
            doubtful = [x for x in native if not x.confident
                        and not any(s.start - gap <= x.start <= s.end + gap for s in slow)]
            if doubtful:
                boundaries += self._judge(doubtful)
            gradual = [x for x in luma_doubtful
                       if not any(s.start - gap <= x.end and x.start <= s.end + gap for s in slow)
                       and not any(x.start + 1 < i <= x.end for i in cuts)]
            if gradual:
                boundaries += self._judge_gradual(gradual, cuts)
        return merge_boundaries(boundaries, c.min_shot_frames)

    def _judge_gradual(self, spans: list[_Candidate], cuts: list[int]) -> list[Boundary]:
        """TransNetV2 over doubtful gradual spans (:meth:`_slow_luma_candidates`), in windows every half window
        along each span from ``GRADUAL_PAD`` frames before it to as many after it: a transition it marks inside a
        span (``transnetv2_threshold``) is one, unless its ends are one picture or keep most of it (the slow
        spans' tests, :meth:`_ends_same` and :meth:`_ends_keep`)."""
        c = self._config
        # Two slow steps and the pads: a transition longer than the step, with context either side (32-frame
        # windows gave a 29-frame dissolve 0.28 at most where 48-frame windows gave 0.59).
        window = 2 * (max(self._luma_steps) + GRADUAL_PAD)
        centers, owners = [], []
        for span in spans:
            first = span.start - GRADUAL_PAD
            while True:
                centers.append(first + window // 2)
                owners.append(span)
                if first + window >= span.end + GRADUAL_PAD:
                    break
                first += window // 2
        found = []
        for span, (first, probs) in zip(owners, self._model.predict_windows(self._tiny, centers, window)):
            for b in transition_runs(probs, c.transnetv2_threshold, offset=first, source=f"transnetv2<{span.source}"):
                if (b.end >= span.start and b.start <= span.end
                        and not self._ends_same(b, cuts) and not self._ends_keep(b, cuts)):
                    found.append(b)
        return found

    def describe(self) -> dict:
        c = self._config
        params = {
            "detector": self.name, "levels": list(c.levels), "analysis_width": c.analysis_width,
            "adaptive_threshold": c.adaptive_threshold, "window_width": c.window_width,
            "min_content_val": c.min_content_val, "slow_threshold": c.slow_threshold,
            "min_shot_frames": c.min_shot_frames, "luma_floor": c.luma_floor, "luma_min_area": c.luma_min_area,
            "slow_luma_threshold": c.slow_luma_threshold, "flash_share": c.flash_share,
            "local_share": c.local_share, "same_picture": c.same_picture,
        }
        if self._model is not None:
            params.update(candidate_ratio=c.candidate_ratio, confident_ratio=c.confident_ratio,
                          judge_window=c.judge_window, transnetv2_threshold=c.transnetv2_threshold)
        return params


def _grey(tiny: list[np.ndarray | None], index: int) -> bool:
    """Are the frames on both sides of a cut at ``index`` grey-scale: the mean spread between the largest and
    the smallest RGB channel of each 48x27 picture below ``GREY_CHROMA`` levels?"""
    pair = np.stack(tiny[max(0, index - 1):index + 1]).astype(np.int16)
    return bool((pair.max(axis=-1) - pair.min(axis=-1)).mean(axis=(1, 2)).max() < GREY_CHROMA)


def _tighten(start: int, end: int, change: np.ndarray, black: np.ndarray) -> list[tuple[int, int]]:
    """A luma transition over frames ``start .. end - 1`` without its quiet edges (frames changing less than
    a tenth of its largest one-step change), split around black frames inside it (:func:`_split_at_black`):
    a fade out, black frames and a fade in are two transitions with a (black) shot between them."""
    inside = change[start:end]
    if len(inside) == 0:
        return [(start, end)]
    quiet = inside < 0.1 * inside.max()
    while start < end - 1 and quiet[0]:
        start, quiet = start + 1, quiet[1:]
    while end - 1 > start and quiet[-1]:
        end, quiet = end - 1, quiet[:-1]
    return _split_at_black(start, end, black)


def _split_at_black(start: int, end: int, black: np.ndarray) -> list[tuple[int, int]]:
    """Frames ``start .. end - 1`` of a transition, split around the black frames inside it."""
    out = []
    cursor = start
    for first, last in _runs(black[start:end]):
        first, last = first + start, last + start
        if first > cursor:
            out.append((cursor, first))  # fade out: ends at the first black frame
        cursor = last + 1  # the fade in starts after the last black frame
    if end > cursor:
        out.append((cursor, end))
    return out or [(start, end)]


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) of every run of True."""
    out, start = [], None
    for i, f in enumerate(flags):
        if f and start is None:
            start = i
        elif not f and start is not None:
            out.append((start, i - 1))
            start = None
    if start is not None:
        out.append((start, len(flags) - 1))
    return out


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
