"""Cut-detection scoring against ground truth: precision, recall, F1 with a frame tolerance."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CutScore:
    true_positives: int
    false_positives: int
    false_negatives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        truth = self.true_positives + self.false_negatives
        return self.true_positives / truth if truth else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: "CutScore") -> "CutScore":
        return CutScore(self.true_positives + other.true_positives, self.false_positives + other.false_positives,
                        self.false_negatives + other.false_negatives)


def score_boundaries(detected: list[tuple[int, int]], cuts: list[int], gradual: list[tuple[int, int]] = (),
                     tolerance: int = 2, gradual_tolerance: int = 3) -> CutScore:
    """Match detected boundaries ``(start, end)`` (``end`` = first frame of the new shot) to true hard cuts
    (first frame of the new shot, within ``tolerance`` frames of ``end``) and true gradual transitions
    (inclusive ranges; a detection overlapping the range widened by ``gradual_tolerance`` matches).
    Each truth matches at most one detection; unmatched detections are false positives."""
    truths = [("cut", c - tolerance, c + tolerance) for c in cuts]
    truths += [("gradual", a - gradual_tolerance, b + gradual_tolerance) for a, b in gradual]
    used = [False] * len(truths)
    tp = fp = 0
    for start, end in sorted(detected):
        match = None
        best = None
        for i, (kind, lo, hi) in enumerate(truths):
            if used[i]:
                continue
            hit = lo <= end <= hi if kind == "cut" else (start <= hi and end >= lo)
            if hit:
                dist = abs(end - (lo + hi) / 2)
                if best is None or dist < best:
                    match, best = i, dist
        if match is None:
            fp += 1
        else:
            used[match] = True
            tp += 1
    return CutScore(tp, fp, used.count(False))


def truth_from_ground_truth(ground_truth: dict, name: str) -> tuple[list[int], list[tuple[int, int]]]:
    """(hard cuts, gradual ranges) of one file in ``../shared/testdata/ground_truth.json``; detector goldens
    (another tool's output, not labels) are skipped."""
    cuts: list[int] = []
    gradual: list[tuple[int, int]] = []
    for entry in ground_truth.get(name, {}).get("gt", []):
        if entry.get("gt_source") == "third_party_detector_golden":
            continue
        cuts = entry.get("cuts_decoded_frame_index", entry.get("cuts", cuts))
        transitions = entry.get("transitions", {})
        cuts = transitions.get("cuts", cuts)
        for kind in ("fade_in", "fade_out", "dissolve"):
            gradual += [tuple(x) for x in transitions.get(kind, [])] + [tuple(x) for x in entry.get(kind, [])]
    return list(cuts), gradual
