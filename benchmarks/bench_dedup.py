"""Dedup benchmark: the keyframe hash (quality and speed, ours against imagehash.phash when installed), copies
of real clips found per kind of copy (re-encode, half size, 1-s trim, crops of 6 and 10 % a side, letterbox,
pillarbox) and the wrong merges among the real clips, with and without crop levels; the near-duplicate hash path
and the semantic path at 100k and 1M synthetic clips with planted duplicates: clips/s, share of planted
duplicates found, share of distinct clips wrongly merged. Prints Markdown for BENCHMARKS.md.

    .venv/bin/python benchmarks/bench_dedup.py [--sizes 100000,1000000] [--dim 768] [--skip-semantic]
        [--skip-quality] [--skip-kinds]

Generated data (not real footage):
- hashes: clips come in "scenes" of 100; a clip's hash is its scene's hash with 12 of 64 bits flipped at each
  keyframe position, so two clips of one scene are about 22 bits apart (as two framings of one subject
  measured 20-28); its hash at crop level k is its whole-picture hash with 8k other bits flipped (crops of
  3.3 % a side measured 6-14 bits). 5 % of the clips are planted copies of another clip, d bits off at every
  position, d = 0, 2, ... 12 in equal shares (re-encodes and resizes measured 0-4 bits, crops of 3-5 % a side
  5-11), and 5 % planted cropped copies: d = 0, 2, ... 8 bits off the source's crop at level 1, 2 or 3;
- embeddings: D-dimensional (768 = ViT-L/14), 2,000 topics; a clip is its topic's centre plus noise (two clips of
  one topic: cosine about 0.6); 5 % planted copies: a clip plus small noise (cosine about 0.98), stored float16.
The keyframe hash itself and the copy kinds are measured on frames of the real videos in ../shared/testdata
(skipped when absent): each video's 3-s windows (75 frames, up to 8 a video) are the clips, their first, middle
and last frames the keyframes (640-px JPEG q90), and a copy of a clip is the same frames transformed.
"""
from __future__ import annotations

import argparse
import glob
import io
import itertools
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curation.curate.dedup import find_duplicates  # noqa: E402
from curation.curate.dedup.groups import connected_groups  # noqa: E402
from curation.curate.dedup.phash import LEVELS, hash_image, hash_images  # noqa: E402
from curation.curate.dedup.semantic import semantic_pairs  # noqa: E402

TESTDATA = ROOT.parent / "shared" / "testdata"


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the hash on real frames ------------------------------------------------------------------------------------
def real_frames(every: int = 25) -> list[tuple[str, np.ndarray]]:
    import av

    frames = []
    for path in sorted(glob.glob(str(TESTDATA / "*" / "*.mp4")) + glob.glob(str(TESTDATA / "*" / "*.webm"))):
        with av.open(path) as container:
            frames += [(path, f.to_ndarray(format="bgr24")) for i, f in enumerate(container.decode(video=0))
                       if i % every == 0]
    return frames


def fit_640(image: np.ndarray) -> np.ndarray:
    """The image at 640 px on its long side (even sides), as a keyframe is stored."""
    import cv2

    h, w = image.shape[:2]
    s = 640 / max(h, w)
    return cv2.resize(image, (int(w * s) // 2 * 2, int(h * s) // 2 * 2), interpolation=cv2.INTER_AREA)


def jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """A keyframe JPEG of the image: 640 px on its long side, at ``quality``."""
    import cv2

    return cv2.imencode(".jpg", fit_640(image), [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()


def hash_quality() -> list[str]:
    import cv2

    frames = real_frames()
    if not frames:
        return ["(../shared/testdata absent: hash quality not measured)"]

    def crop(image, f):
        h, w = image.shape[:2]
        return image[int(f * h):h - int(f * h), int(f * w):w - int(f * w)]

    transforms = {"JPEG q30": lambda x: jpeg(x, 30),
                  "half size": lambda x: jpeg(cv2.resize(x, (x.shape[1] // 2, x.shape[0] // 2),
                                                         interpolation=cv2.INTER_AREA)),
                  "crop 3 % a side": lambda x: jpeg(crop(x, 0.03)), "crop 5 % a side": lambda x: jpeg(crop(x, 0.05)),
                  "crop 10 % a side": lambda x: jpeg(crop(x, 0.10))}
    base = [jpeg(x) for _, x in frames]
    methods = {"ours (cv2 DCT hash, half-size JPEG decode; whole picture)": lambda data: int(hash_image(data)[0])}
    try:
        import imagehash
        from PIL import Image

        methods["imagehash.phash 4.3.2"] = lambda data: int(str(imagehash.phash(Image.open(io.BytesIO(data)))), 16)
    except ImportError:
        pass
    # Speed: the methods take turns, 5 rounds over the same JPEGs; the best round of each (the machine is shared).
    rates = dict.fromkeys(methods, 0.0)
    for _ in range(5):
        for name, method in methods.items():
            started = time.perf_counter()
            for b in base:
                method(b)
            rates[name] = max(rates[name], len(base) / (time.perf_counter() - started))
    lines = [f"Keyframe hash on {len(frames)} frames (every 25th) of the {len({p for p, _ in frames})} real videos "
             "in ../shared/testdata, each a 640-px JPEG q90 like a keyframe: Hamming distance (bits of 64) to "
             "its transformed copy (median / 90th percentile), and between frames of different videos "
             "(1st / 5th percentile); speed on the same JPEGs, one thread, best of 5 interleaved rounds.", "",
             "| hash | " + " | ".join(transforms) + " | distinct videos p1 / p5 | images/s |",
             "| --- |" + " --- |" * (len(transforms) + 2)]
    for name, method in methods.items():
        hashes = [method(b) for b in base]
        cells = []
        for transform in transforms.values():
            d = [bin(method(transform(x)) ^ h).count("1") for (_, x), h in zip(frames, hashes)]
            cells.append(f"{np.percentile(d, 50):.0f} / {np.percentile(d, 90):.0f}")
        distinct = [bin(hashes[i] ^ hashes[j]).count("1") for i, j in itertools.combinations(range(len(frames)), 2)
                    if frames[i][0] != frames[j][0]]
        cells.append(f"{np.percentile(distinct, 1):.0f} / {np.percentile(distinct, 5):.0f}")
        cells.append(f"{rates[name]:,.0f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    started = time.perf_counter()
    hash_images(base * 4, workers=os.cpu_count())
    rate = 4 * len(base) / (time.perf_counter() - started)
    lines += ["", f"Hashing with {os.cpu_count()} threads (`hash_images`, bars cut and {LEVELS} crop levels): "
              f"{rate:,.0f} images/s = {rate / 3:,.0f} clips/s (three keyframes a clip)."]
    return lines


# -- copy kinds on real clips -----------------------------------------------------------------------------------
WINDOW, CLIPS_PER_VIDEO = 75, 8
TRIM = 25  # frames trimmed off the start: 1 s at 25 fps


def real_clips() -> list[tuple[str, dict[int, np.ndarray]]]:
    """(video, {frame index in the clip: frame}) for each 3-s window of each real video: the frames a clip and its
    trimmed copy take keyframes from (first, middle, last; the trim's first and middle)."""
    import av

    wanted = {0, WINDOW // 2, WINDOW - 1, TRIM, TRIM + (WINDOW - TRIM) // 2}
    clips = []
    for path in sorted(glob.glob(str(TESTDATA / "*" / "*.mp4")) + glob.glob(str(TESTDATA / "*" / "*.webm"))
                       + glob.glob(str(TESTDATA / "*" / "*.avi"))):
        with av.open(path) as container:
            frames: list[dict[int, np.ndarray]] = [{} for _ in range(CLIPS_PER_VIDEO)]
            for i, frame in enumerate(container.decode(video=0)):
                clip, offset = divmod(i, WINDOW)
                if clip >= CLIPS_PER_VIDEO:
                    break
                if offset in wanted:
                    frames[clip][offset] = fit_640(frame.to_ndarray(format="bgr24"))
        clips += [(path, f) for f in frames if len(f) == len(wanted)]
    return clips


def copy_kinds() -> list[str]:
    import cv2

    clips = real_clips()
    if not clips:
        return ["(../shared/testdata absent: copy kinds not measured)"]

    def crop(share):
        def apply(x):
            h, w = x.shape[:2]
            dy, dx = int(round(share * h)), int(round(share * w))
            return jpeg(cv2.resize(x[dy:h - dy, dx:w - dx], (w, h), interpolation=cv2.INTER_AREA))
        return apply

    def bars(vertical: bool):  # black bars adding a quarter to the height (letterbox) or the width (pillarbox)
        def apply(x):
            h, w = x.shape[:2]
            pad = ((h // 8, h // 8), (0, 0), (0, 0)) if vertical else ((0, 0), (w // 8, w // 8), (0, 0))
            return jpeg(np.pad(x, pad))
        return apply

    whole = (0, WINDOW // 2, WINDOW - 1)
    kinds = {"re-encode (JPEG q30)": (whole, lambda x: jpeg(x, 30)),
             "half size": (whole, lambda x: jpeg(cv2.resize(x, (x.shape[1] // 2, x.shape[0] // 2),
                                                           interpolation=cv2.INTER_AREA))),
             "1-s trim": ((TRIM, TRIM + (WINDOW - TRIM) // 2, WINDOW - 1), jpeg),
             "crop 6 % a side": (whole, crop(0.06)), "crop 10 % a side": (whole, crop(0.10)),
             "letterbox": (whole, bars(True)), "pillarbox": (whole, bars(False))}
    images = [jpeg(frames[k]) for _, frames in clips for k in whole]
    for offsets, transform in kinds.values():
        images += [transform(frames[k]) for _, frames in clips for k in offsets]
    started = time.perf_counter()
    hashes, valid = hash_images(images, workers=os.cpu_count())
    rate = len(images) / 3 / (time.perf_counter() - started)
    n = len(clips)
    hashes, valid = hashes.reshape(-1, 3, LEVELS), valid.reshape(-1, 3)
    ids = [f"c{i}" for i in range(len(hashes))]
    video = np.array([path for path, _ in clips])
    lines = [f"Copies of {n} real clips (3-s windows of {len(set(video))} videos in ../shared/testdata, keyframes "
             f"640-px JPEG q90), all {n * (1 + len(kinds))} clips deduplicated together: share of each kind's "
             "copies grouped with their original; wrong merges: groups holding two original clips (of different "
             "videos / other windows of one video: a static camera's windows are alike). Hashing, bars cut "
             f"and {LEVELS} crop levels, {os.cpu_count()} threads: {rate:,.0f} clips/s.", "",
             "| crop test | " + " | ".join(kinds) + " | wrong merges: across videos / within a video |",
             "| --- |" + " --- |" * (len(kinds) + 1)]
    for label, crop_distance in (("off (whole pictures only)", None), ("on (crop_distance 8)", 8.0)):
        group = find_duplicates(ids, hashes, valid, crop_distance=crop_distance, keep="first").group
        cells = []
        for k in range(len(kinds)):
            copies = group[(k + 1) * n:(k + 2) * n]
            cells.append(f"{np.mean((copies >= 0) & (copies == group[:n])):.2f}")
        originals = group[:n]
        across = within = 0
        for g in np.unique(originals[originals >= 0]):
            members = np.flatnonzero(originals == g)
            across += len(set(video[members])) > 1
            within += len(members) - len(set(video[members]))
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {across} / {within} |")
    return lines


# -- generated data ---------------------------------------------------------------------------------------------
def flips(rng, n: int, bits: np.ndarray) -> np.ndarray:
    """n uint64 masks, mask k with bits[k] random bits set."""
    keys = rng.random((n, 64)).argsort(axis=1)
    weights = np.left_shift(np.uint64(1), np.arange(64, dtype=np.uint64))
    chosen = np.arange(64)[None, :] < bits[:, None]
    out = np.zeros(n, np.uint64)
    for start in range(0, n, 100_000):
        sl = slice(start, start + 100_000)
        out[sl] = np.where(chosen[sl], weights[keys[sl]], np.uint64(0)).sum(axis=1, dtype=np.uint64)
    return out


def generated_hashes(n: int, seed: int = 0):
    """(hashes (n, 3, LEVELS), origin (n,), planted copy rows, their distance in bits, planted cropped copy rows,
    their distance in bits)."""
    rng = np.random.default_rng(seed)
    scenes = rng.integers(0, 2 ** 63, (n // 100 + 1, 3), dtype=np.int64).astype(np.uint64) * np.uint64(2) \
        + rng.integers(0, 2, (n // 100 + 1, 3)).astype(np.uint64)
    scene = rng.integers(0, len(scenes), n)
    hashes = np.empty((n, 3, LEVELS), np.uint64)
    for p in range(3):
        hashes[:, p, 0] = scenes[scene, p] ^ flips(rng, n, np.full(n, 12))
    origin = np.arange(n)
    shuffled = rng.permutation(n)
    planted, cropped = shuffled[: n // 20], shuffled[n // 20: n // 10]
    sources = rng.permutation(np.setdiff1d(np.arange(n), shuffled[: n // 10]))[: len(planted) + len(cropped)]
    distance = rng.integers(0, 7, len(planted)) * 2
    crop_distance = rng.integers(0, 5, len(cropped)) * 2
    level = rng.integers(1, LEVELS, len(cropped))
    for p in range(3):
        for k in range(1, LEVELS):  # the crops of every clip (a cropped copy's are redrawn below)
            hashes[:, p, k] = hashes[:, p, 0] ^ flips(rng, n, np.full(n, 8 * k))
        copied = sources[:len(planted)]
        hashes[planted, p] = hashes[copied, p] ^ flips(rng, len(planted), distance)[:, None]
        cut = sources[len(planted):]
        hashes[cropped, p, 0] = hashes[cut, p, level] ^ flips(rng, len(cropped), crop_distance)
        for k in range(1, LEVELS):
            hashes[cropped, p, k] = hashes[cropped, p, 0] ^ flips(rng, len(cropped), np.full(len(cropped), 8 * k))
    origin[planted], origin[cropped] = sources[:len(planted)], sources[len(planted):]
    return hashes, origin, planted, distance, cropped, crop_distance


def generated_embeddings(n: int, dim: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((2000, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    topic = rng.integers(0, len(centres), n)
    x = np.empty((n, dim), np.float16)
    for start in range(0, n, 50_000):
        sl = slice(start, start + 50_000)
        noise = rng.standard_normal((len(topic[sl]), dim)).astype(np.float32) * (0.8 / np.sqrt(dim))
        block = centres[topic[sl]] + noise
        x[sl] = block / np.linalg.norm(block, axis=1, keepdims=True)
    origin = np.arange(n)
    planted = rng.permutation(n)[: n // 20]
    sources = rng.permutation(np.setdiff1d(np.arange(n), planted))[: len(planted)]
    for start in range(0, len(planted), 50_000):
        p, s = planted[start:start + 50_000], sources[start:start + 50_000]
        block = x[s].astype(np.float32) + rng.standard_normal((len(p), dim)).astype(np.float32) * (0.2 / np.sqrt(dim))
        x[p] = block / np.linalg.norm(block, axis=1, keepdims=True)
    origin[planted] = sources
    return x, origin, planted


def merge_stats(group: np.ndarray, origin: np.ndarray, planted: np.ndarray) -> tuple[float, float]:
    """Share of planted copies in their source's group; share of clips in a group with a clip of another
    origin (wrongly merged)."""
    found = (group[planted] >= 0) & (group[planted] == group[origin[planted]])
    in_group = np.flatnonzero(group >= 0)
    g, o = group[in_group], origin[in_group]
    order = np.lexsort((o, g))
    g, o = g[order], o[order]
    first = np.r_[True, g[1:] != g[:-1]]
    origins_in_group = np.add.reduceat(np.r_[True, (g[1:] != g[:-1]) | (o[1:] != o[:-1])].astype(np.int64),
                                       np.flatnonzero(first)) if len(g) else np.zeros(0, np.int64)
    mixed = np.zeros(group.max() + 1 if len(in_group) else 0, bool)
    mixed[g[first]] = origins_in_group > 1
    wrong = mixed[group[in_group]].sum() if len(in_group) else 0
    return float(found.mean()), float(wrong / len(group))


def bench_hashes(n: int) -> list[str]:
    hashes, origin, planted, distance, cropped, crop_distance = generated_hashes(n)
    valid = np.ones(hashes.shape[:2], bool)
    ids = [f"c{i}" for i in range(n)]
    lines = []
    for label, crops in (("whole pictures", None), ("with crop levels", 8.0)):
        started = time.perf_counter()
        result = find_duplicates(ids, hashes, valid, crop_distance=crops, keep="first")  # pairs, groups, keepers
        total = time.perf_counter() - started
        found, wrong = merge_stats(result.group, origin, np.r_[planted, cropped])
        cells = []
        for rows, bits in ((planted, distance), (cropped, crop_distance)):
            same = (result.group[rows] >= 0) & (result.group[rows] == result.group[origin[rows]])
            by_d = ", ".join(f"{d}: {np.mean(same[bits == d]):.3f}" for d in np.unique(bits))
            cells.append(f"{np.mean(same):.3f} ({by_d})")
        lines.append(f"| hash ({label}), {n:,} clips | {total:.1f} s | {n / total:,.0f} | copies {cells[0]}; "
                     f"cropped copies {cells[1]} | {wrong:.5f} | {rss_mib():,.0f} MiB |")
    return lines


def bench_semantic(n: int, dim: int, probes: int = 1) -> list[str]:
    x, origin, planted = generated_embeddings(n, dim)
    started = time.perf_counter()
    a, b, _ = semantic_pairs(x, threshold=0.95, probes=probes)
    group = connected_groups(n, a, b)
    total = time.perf_counter() - started
    found, wrong = merge_stats(group, origin, planted)
    return [f"| semantic (D={dim}, probes {probes}), {n:,} clips | {total:.1f} s | {n / total:,.0f} | {found:.3f} | "
            f"{wrong:.5f} | {rss_mib():,.0f} MiB |"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--skip-semantic", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-kinds", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average at start {os.getloadavg()[0]:.1f}\n")
    if not args.skip_quality:
        print("\n".join(hash_quality()), "\n", flush=True)
    if not args.skip_kinds:
        print("\n".join(copy_kinds()), "\n", flush=True)
    print("| path | time | clips/s | planted duplicates found | distinct clips wrongly merged | peak RSS |")
    print("| --- | --- | --- | --- | --- | --- |", flush=True)
    for n in sizes:
        print("\n".join(bench_hashes(n)), flush=True)
    if not args.skip_semantic:
        for n in sizes:
            print("\n".join(bench_semantic(n, args.dim)), flush=True)
        print("\n".join(bench_semantic(sizes[0], args.dim, probes=2)), flush=True)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
