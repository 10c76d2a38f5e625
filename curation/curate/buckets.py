"""Motion buckets: SVD's ``motion_bucket_id`` (0..255, one of its ``added_time_ids``) from our motion score.

Two mappings, both monotone in the motion score (px/s@256) and spanning 0..255:

- ``quantile`` (default): fitted on the kept clips; 257 knots are the dataset's motion percentiles at
  0, 100/256, ..., 100 %, so every bucket holds about the same number of clips and the median clip gets about
  127, SVD's default bucket at generation time. A clip's bucket is the number of inner knots below its value,
  so tied values share the lowest bucket of their range (many static clips all get bucket 0, "no motion").
- ``fixed``: a physical, dataset-independent mapping,
  ``bucket = 255 * log(1 + m / m0) / log(1 + m_max / m0)`` (defaults m0 = 2 px/s@256, the static threshold,
  m_max = 1024 px/s@256, a whole short side in a quarter second), rounded and clipped; the same motion gets
  the same bucket in every dataset.

The fitted mapping is saved as JSON next to the filter output; finetuning reads the bucket column, and
generation turns "this much motion" (px/s@256) into a bucket with :meth:`MotionBuckets.bucket` on the same
file, or a bucket back into motion with :meth:`MotionBuckets.motion`.
"""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from curation.contract.schema import MOTION_UNIT
from curation.curate.percentiles import count, percentiles

N_BUCKETS = 256


@dataclass(frozen=True)
class MotionBuckets:
    kind: str                      # "quantile" or "fixed"
    column: str                    # the motion column it maps, e.g. motion_mean
    knots: tuple[float, ...] = ()  # quantile: motion at the 257 bucket edges
    m0: float = 2.0                # fixed: px/s@256
    m_max: float = 1024.0          # fixed: px/s@256, maps to 255
    fitted_on: int = 0             # clips the quantile mapping was fitted on
    unit: str = MOTION_UNIT

    @classmethod
    def fit_quantile(cls, values: np.ndarray | Callable[[], Iterable[np.ndarray]], column: str,
                     in_memory: int = 1 << 24, n: int | None = None) -> "MotionBuckets":
        """Fit on ``values`` (an array, or a re-iterable source of chunks read in a few passes, holding at most
        ``in_memory`` values at once); non-finite values are skipped. ``n``: their count, when known."""
        chunks = (lambda: [np.asarray(values, np.float64)]) if isinstance(values, np.ndarray) else values
        fitted_on = count(chunks) if n is None else n
        if fitted_on == 0:
            raise ValueError(f"no finite {column} value to fit motion buckets on")
        knots = percentiles(chunks, list(np.linspace(0.0, 100.0, N_BUCKETS + 1)), in_memory=in_memory,
                            n=fitted_on)
        return cls("quantile", column, tuple(knots), fitted_on=fitted_on)

    @classmethod
    def fixed(cls, column: str, m0: float = 2.0, m_max: float = 1024.0) -> "MotionBuckets":
        if not (0 < m0 < m_max):
            raise ValueError("need 0 < m0 < m_max")
        return cls("fixed", column, m0=m0, m_max=m_max)

    def bucket(self, motion) -> np.ndarray:
        """motion (px/s@256, scalar or array) -> bucket ids (int, 0..255); -1 where motion is not finite."""
        m = np.atleast_1d(np.asarray(motion, np.float64))
        out = np.full(m.shape, -1, np.int64)
        ok = np.isfinite(m)
        if self.kind == "fixed":
            b = 255.0 * np.log1p(np.maximum(m[ok], 0.0) / self.m0) / math.log1p(self.m_max / self.m0)
            out[ok] = np.clip(np.round(b), 0, N_BUCKETS - 1).astype(np.int64)
        else:
            out[ok] = np.searchsorted(np.asarray(self.knots[1:-1]), m[ok], side="left")
        return out

    def motion(self, bucket: int) -> float:
        """A representative motion (px/s@256) for a bucket: the middle of its range."""
        if not 0 <= bucket < N_BUCKETS:
            raise ValueError(f"bucket must be in 0..{N_BUCKETS - 1}")
        if self.kind == "fixed":
            return float(self.m0 * math.expm1(bucket / 255.0 * math.log1p(self.m_max / self.m0)))
        return float((self.knots[bucket] + self.knots[bucket + 1]) / 2.0)

    def save(self, path: str | Path) -> None:
        data = asdict(self)
        data["knots"] = list(self.knots)
        Path(path).write_text(json.dumps(data, indent=1))

    @classmethod
    def load(cls, path: str | Path) -> "MotionBuckets":
        data = json.loads(Path(path).read_text())
        data["knots"] = tuple(data.get("knots", ()))
        return cls(**data)
