"""Model-stage benchmark: per-stage throughput (clips/s) of our stages (batched, as each Ray worker runs
them) against a plain single-process loop over the same model, one image at a time (what a user writes by
hand), on the same keyframes in one run; plus the whole `curate annotate` job. Prints Markdown for
BENCHMARKS.md.

    .venv/bin/python benchmarks/bench_models.py [--device cpu|cuda] [--clips N] [--full]

--full adds the full-size architectures with random weights (ViT-L-14, coca_ViT-L-14): speed only.
"""
from __future__ import annotations

import argparse
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.config import load_config  # noqa: E402
from curation.models.weights import resolve_easyocr, resolve_file, resolve_open_clip  # noqa: E402
from curation.annotate.enrich.caption import CaptionStage  # noqa: E402
from curation.annotate.enrich.aesthetic import AestheticStage  # noqa: E402
from curation.annotate.enrich.ocr import OcrStage  # noqa: E402
from curation.annotate.store import read_keyframes  # noqa: E402


def keyframe_batch(directory: Path, n_clips: int) -> dict:
    """Real keyframes: scan the sample corpus once and take the stored JPEGs (repeated to n_clips)."""
    out = directory / "scan"
    subprocess.run([str(ROOT / ".venv/bin/curate"), "sample", str(directory / "videos")], check=True,
                   capture_output=True)
    subprocess.run([str(ROOT / ".venv/bin/curate"), "annotate", str(directory / "videos"), "--output", str(out),
                    "--stages", "cuts,motion,keyframes", "-q"], check=True, capture_output=True)
    kf = read_keyframes(str(out)).to_pandas()
    by_clip = {cid: dict(zip(g.position, g.jpeg)) for cid, g in kf.groupby("clip_id")}
    clips = [by_clip[c] for c in sorted(by_clip)]
    clips = (clips * (n_clips // len(clips) + 1))[:n_clips]
    cols = {"clip_id": [f"c{i}" for i in range(n_clips)], "text": ["a video frame"] * n_clips}
    for p in ("first", "middle", "last"):
        cols[f"jpeg_{p}"] = [c[p] for c in clips]
    return {k: np.array(v, dtype=object) for k, v in cols.items()}


def rgb(jpeg: bytes) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def run_stage(stage, batch: dict, batch_size: int) -> None:
    n = len(batch["clip_id"])
    for s in range(0, n, batch_size):
        stage.annotate_clips({k: v[s:s + batch_size] for k, v in batch.items()})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--full", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-models-"))
    batch = keyframe_batch(work, args.clips)
    n = args.clips
    rows = []
    dev = [f"annotate.{s}.device={args.device}" for s in ("ocr", "aesthetic", "caption")]

    # OCR, real weights. Plain loop: reader.detect on each keyframe with EasyOCR's defaults.
    for canvas in (640, 320):
        cfg = load_config("configs/offline.yaml", [*dev, f"annotate.ocr.canvas_size={canvas}"]).annotate
        stage = OcrStage(cfg, str(resolve_easyocr(None, False, "ocr")))
        run_stage(stage, {k: v[:1] for k, v in batch.items()}, 1)  # warm-up
        ours = timed(run_stage, stage, batch, cfg.ray.ocr.batch_size)
        images = [rgb(batch[f"jpeg_{p}"][i]) for i in range(n) for p in ("first", "middle", "last")]
        plain = timed(lambda: [stage.reader.detect(im, canvas_size=canvas) for im in images])
        rows.append((f"ocr (EasyOCR CRAFT, real weights, canvas {canvas})", n / ours, n / plain))

    archs = [("curation-tiny-clip", "curation-tiny-coca", 1.0)]
    if args.full:
        archs.append(("ViT-L-14", "coca_ViT-L-14", 0.25))
    for clip_arch, coca_arch, fraction in archs:
        m = max(2, int(n * fraction))
        sub = {k: v[:m] for k, v in batch.items()}
        cfg = load_config("configs/offline.yaml", [*dev, f"annotate.aesthetic.model={clip_arch}",
                                                   f"annotate.caption.model={coca_arch}",
                                                   "annotate.caption.num_beams=6", "annotate.caption.num_beam_groups=3",
                                                   "annotate.caption.max_seq_len=30"]).annotate
        aesthetic = AestheticStage(cfg, resolve_open_clip(clip_arch, "random", "aesthetic"),
                                   resolve_file("random", "head"))
        run_stage(aesthetic, {k: v[:1] for k, v in sub.items()}, 1)
        ours = timed(run_stage, aesthetic, sub, cfg.ray.aesthetic.batch_size)
        lm = aesthetic.loaded

        def plain_aesthetic() -> None:
            from PIL import Image
            with torch.inference_mode():
                for i in range(m):
                    text = lm.model.encode_text(lm.tokenizer([sub["text"][i]]).to(lm.device))
                    for p in ("first", "middle", "last"):
                        x = lm.preprocess(Image.fromarray(rgb(sub[f"jpeg_{p}"][i])))[None].to(lm.device, lm.dtype)
                        e = lm.model.encode_image(x)
                        aesthetic.head(e.float() / e.float().norm(dim=-1, keepdim=True))
                        (e @ text.T)
        rows.append((f"aesthetic ({clip_arch}, random weights, {lm.dtype})", m / ours, m / timed(plain_aesthetic)))

        caption = CaptionStage(cfg, resolve_open_clip(coca_arch, "random", "caption"))
        k = max(2, m // 3) if fraction < 1 else m
        cap_sub = {key: v[:k] for key, v in sub.items()}
        run_stage(caption, {key: v[:1] for key, v in cap_sub.items()}, 1)
        ours = timed(run_stage, caption, cap_sub, cfg.ray.caption.batch_size)
        cm = caption.loaded

        def plain_caption() -> None:
            from PIL import Image
            with torch.inference_mode():
                for i in range(k):
                    x = cm.preprocess(Image.fromarray(rgb(cap_sub["jpeg_middle"][i])))[None].to(cm.device, cm.dtype)
                    cm.model.generate(x, generation_type="beam_search", seq_len=30)
        rows.append((f"caption ({coca_arch}, random weights, beam 6, 30 tokens)", k / ours, k / timed(plain_caption)))

    start = time.perf_counter()
    job = subprocess.run([str(ROOT / ".venv/bin/curate"), "annotate", str(work / "videos"), "--output",
                          str(work / "job"), "--config", "configs/offline.yaml", "-q"], capture_output=True, text=True)
    job_s = time.perf_counter() - start
    clips_line = [line for line in job.stdout.splitlines() if line.startswith("done:")]
    device = torch.cuda.get_device_name(0) if args.device == "cuda" else f"CPU ({platform.machine()}, " \
                                                                         f"{__import__('os').cpu_count()} cores)"
    print(f"Device: {device}; torch {torch.__version__}, {torch.get_num_threads()} threads; {n} clips, "
          "3 keyframes each (640x360 JPEG from the sample corpus)\n")
    print("| stage | ours, clips/s | plain loop, clips/s | ratio |")
    print("| --- | --- | --- | --- |")
    for name, ours, plain in rows:
        print(f"| {name} | {ours:.2f} | {plain:.2f} | {ours / plain:.2f}x |")
    print(f"\nWhole `curate annotate --config configs/offline.yaml` on the sample corpus (4 videos): "
          f"{job_s:.1f} s, rc {job.returncode}; {clips_line[0] if clips_line else job.stderr[-300:]}")


if __name__ == "__main__":
    main()
