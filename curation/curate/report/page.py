"""The report page: one self-contained HTML file (plots and thumbnails inline) a person reads in a browser."""
from __future__ import annotations

import base64
import html
import re
from collections import Counter
from collections.abc import Callable

import numpy as np
import pandas as pd

from curation.curate.buckets import MotionBuckets
from curation.curate.config import ReportConfig
from curation.curate.filters import Threshold, footage_lost
from curation.annotate.scan.motion import MOTION_UNIT
from curation.curate.report import plots
from curation.schema import ROW_CLIP

# Score columns shown (when present), with their unit.
SCORES = {"motion_mean": MOTION_UNIT, "motion_p90": MOTION_UNIT, "motion_static_frac": "fraction of pixels",
          "aesthetic": "LAION aesthetic score", "text_sim_mean": "image-text cosine similarity",
          "ocr_area_max": "text area / frame area"}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2733}
header{background:#1d2733;color:#fff;padding:18px 32px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#c8d0da;font-size:13px}
main{max-width:1180px;margin:0 auto;padding:12px 32px 48px}
section{background:#fff;border-radius:8px;box-shadow:0 1px 3px rgba(0,0,0,.08);margin:18px 0;padding:16px 20px}
h2{font-size:17px;margin:0 0 10px}h3{font-size:14px;margin:14px 0 6px}
.cards{display:flex;flex-wrap:wrap;gap:12px}.card{background:#eef3f9;border-radius:6px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:20px}.card span{font-size:12px;color:#4a5868}
table{border-collapse:collapse;font-size:13px}td,th{padding:4px 10px;border-bottom:1px solid #e3e7ec;text-align:left}
th{background:#f0f3f6}.grid{display:flex;flex-wrap:wrap;gap:16px}.grid img{max-width:100%}
.plot{flex:1 1 520px}.thumbs{display:flex;flex-wrap:wrap;gap:8px}
figure{margin:0;width:176px;font-size:11px;color:#4a5868}figure img{width:176px;border-radius:4px;display:block}
.warn{background:#fff3cd;border:1px solid #e0c25c;border-radius:6px;padding:10px 14px;font-size:13px}
.muted{color:#6b7785;font-size:12px}
"""


def _esc(value) -> str:
    return html.escape(str(value))


def _card(value, label: str) -> str:
    return f'<div class="card"><b>{_esc(value)}</b><span>{_esc(label)}</span></div>'


def _table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(src: str, alt: str) -> str:
    return f'<img src="{src}" alt="{_esc(alt)}">'


def reason_flags(clips: pd.DataFrame, thresholds: list[Threshold]) -> tuple[np.ndarray, list[str]]:
    """(n_clips x n_reasons bool matrix, reason names): errors first, then the rules in their order."""
    order = [t.reason for t in thresholds]
    seen: dict[str, None] = {}
    for rs in clips.drop_reasons:
        for r in (rs if rs is not None else ()):
            seen.setdefault(r, None)
    names = sorted(r for r in seen if r.startswith("error")) + list(dict.fromkeys(order)) + sorted(
        r for r in seen if not r.startswith("error") and r not in order)
    column = {r: j for j, r in enumerate(names)}
    flags = np.zeros((len(clips), len(names)), bool)
    for i, rs in enumerate(clips.drop_reasons):
        for r in (rs if rs is not None else ()):
            flags[i, column[r]] = True
    return flags, names


def _name(row) -> str:
    """``video.mp4 #3``: the source file and the clip's index in it."""
    return f"{str(row.video_path).rsplit('/', 1)[-1]} #{int(row.clip_index)}"


THUMB = re.compile(r"<!--thumb:([^>]*)-->")


def fill_thumbnails(page: str, jpeg: Callable[[str], bytes | None]) -> str:
    """Replace the page's thumbnail placeholders with inline JPEGs (``jpeg(clip_id)``; None = not available)."""
    def image(match: re.Match) -> str:
        data = jpeg(match.group(1))
        if not data:
            return '<div class="muted">(no keyframe)</div>'
        return _img("data:image/jpeg;base64," + base64.b64encode(data).decode(), match.group(1))
    return THUMB.sub(image, page)


def _footage_lost(df: pd.DataFrame, video_seconds: float, clip_seconds: float) -> str:
    """The table of footage that never became a clip (short or black shots, transitions), next to the
    clips that entered the rules; empty for tables written before such rows were recorded."""
    if "row_kind" not in df.columns:
        return ""
    lost = footage_lost(df.row_kind, df.skip_reason, df.duration_s)

    def share(seconds: float) -> str:
        return f"{100 * seconds / max(video_seconds, 1e-9):.1f}%"

    rows = [["clips (enter the rules)", f"{int((df.row_kind == ROW_CLIP).sum()):,}", f"{clip_seconds:,.1f}",
             share(clip_seconds)]]
    rows += [[f"shots without a clip: {reason}", f"{n:,}", f"{lost.shot_seconds[reason]:,.1f}",
              share(lost.shot_seconds[reason])] for reason, n in sorted(lost.shots.items())]
    rows.append(["gradual transitions", f"{lost.transitions:,}", f"{lost.transition_seconds:,.1f}",
                 share(lost.transition_seconds)])
    return ("<h3>Footage that never became a clip</h3>"
            + _table(["what", "rows", "seconds", "share of video"], rows)
            + '<p class="muted">Detected shots shorter than <code>clips.min_s</code> after trimming, shots of '
            "black frames, and gradual transitions are rows of the table too (<code>row_kind</code>); the rest "
            "of the video is trimmed frames next to transitions.</p>")


def columns_needed(thresholds: list[Threshold], buckets: MotionBuckets, available: list[str]) -> list[str]:
    """The filter-output columns the page reads (a 1M-clip table is read without its text columns)."""
    base = ["clip_id", "video_id", "video_path", "clip_index", "keep", "drop_reasons", "duration_s",
            "video_duration_s", "width", "height", "error_kind", "error", "motion_bucket_id", "row_kind",
            "skip_reason"]
    wanted = base + list(SCORES) + [t.column for t in thresholds] + [buckets.column]
    wanted += [c for c in available if c.endswith("_random_weights")]
    return [c for c in dict.fromkeys(wanted) if c in available]


def build(df: pd.DataFrame, thresholds: list[Threshold], buckets: MotionBuckets, config: ReportConfig,
          title: str = "Filtering report") -> tuple[str, list[str]]:
    """(HTML, names of the plots it holds). ``df`` is the filter output. Thumbnails are placeholders that
    :func:`fill_thumbnails` replaces, so only the clips shown are ever read."""
    clips = df[df.clip_index.notna()]
    keep = clips.keep.to_numpy(bool)
    plots_made: list[str] = []
    parts: list[str] = []

    def plot(name: str, src: str) -> str:
        plots_made.append(name)
        return f'<div class="plot">{_img(src, name)}</div>'

    # -- summary ----------------------------------------------------------------------------------------
    videos = df.drop_duplicates("video_id")
    hours = float(videos.video_duration_s.fillna(0).sum()) / 3600
    kept_hours = float(clips.duration_s[keep].sum()) / 3600
    errors = Counter(df.error_kind.dropna())
    random = [c.replace("_random_weights", "") for c in df.columns
              if c.endswith("_random_weights") and df[c].fillna(False).astype(bool).any()]
    warn = ""
    if random:
        warn = (f'<p class="warn"><b>Random weights:</b> the {", ".join(random)} stage(s) ran with '
                "random-initialised models (tests and demos only): their scores, captions and the filters on "
                "them are meaningless here.</p>")
    cards = "".join([_card(f"{len(videos):,}", "videos"), _card(f"{len(clips):,}", "clips"),
                     _card(f"{hours:.2f}", "hours of video"), _card(f"{int(keep.sum()):,}", "clips kept"),
                     _card(f"{kept_hours:.2f}", "hours kept"), _card(f"{sum(errors.values()):,}", "rows with errors")])
    err_table = _table(["error kind", "rows"], [[k, v] for k, v in errors.most_common()]) if errors else \
        '<p class="muted">No errors.</p>'
    parts.append(f'<section><h2>Dataset</h2>{warn}<div class="cards">{cards}</div>'
                 f"<h3>Errors by kind</h3>{err_table}</section>")

    # -- funnel and overlap -----------------------------------------------------------------------------
    flags, names_all = reason_flags(clips, thresholds)
    steps, remaining = [("all clips", len(clips))], np.ones(len(clips), bool)
    for j, r in enumerate(names_all):
        remaining &= ~flags[:, j]
        steps.append((r, int(remaining.sum())))
    per_rule = flags.sum(axis=0)
    single = flags.sum(axis=1) == 1
    only = flags[single].sum(axis=0)
    used = [j for j in range(len(names_all)) if per_rule[j]]
    names = [names_all[j] for j in used]
    rows = [[names_all[j], int(per_rule[j]), int(only[j]), f"{100 * per_rule[j] / max(len(clips), 1):.1f}%"]
            for j in used]
    sub = flags[:, used].astype(np.int64)
    matrix = sub.T @ sub
    funnel_html = plot("funnel", plots.funnel(steps))
    lost_html = _footage_lost(df, hours * 3600, float(clips.duration_s.fillna(0).sum()))
    overlap_html = plot("overlap", plots.overlap(names, matrix)) if len(names) > 1 else ""
    parts.append(f'<section><h2>What each filter removed</h2><div class="grid">{funnel_html}{overlap_html}</div>'
                 + _table(["rule", "clips dropped", "dropped by this rule only", "share of clips"], rows)
                 + '<p class="muted">The funnel applies the rules in order; every rule is also evaluated on '
                 "every clip (a clip lists all rules that dropped it).</p>" + lost_html + "</section>")

    # -- score histograms -------------------------------------------------------------------------------
    hist_html = []
    for column in [c for c in SCORES if c in clips.columns] + sorted(
            {t.column for t in thresholds} - set(SCORES) - {"short_side", "duration_s"}):
        if column not in clips.columns:
            continue
        values = clips[column].to_numpy(float)
        lines = [(t.keep_min if t.keep_min is not None else t.keep_max, t.reason)
                 for t in thresholds if t.column == column]
        hist_html.append(plot(f"hist:{column}", plots.histogram(values, keep, column, SCORES.get(column, ""),
                                                                config.bins, lines)))
    parts.append(f'<section><h2>Scores and thresholds</h2><div class="grid">{"".join(hist_html)}</div></section>')

    # -- distributions ----------------------------------------------------------------------------------
    kept = clips[keep]
    ids = kept.motion_bucket_id.dropna().astype(int) if "motion_bucket_id" in kept else pd.Series(dtype=int)
    bucket_counts = np.bincount(ids // 16, minlength=16) if len(ids) else np.zeros(16, int)
    bucket_plot = plot("motion_buckets", plots.bars([f"{16 * i}-{16 * i + 15}" for i in range(16)],
                                                   list(bucket_counts), "motion_bucket_id of kept clips",
                                                   f"bucket ({buckets.kind} mapping of {buckets.column})"))
    res = Counter(f"{w}x{h}" for w, h in zip(clips.width, clips.height)).most_common(12)
    res_plot = plot("resolution", plots.bars([r for r, _ in res], [c for _, c in res], "resolution (all clips)",
                                             "width x height"))
    dur = kept.duration_s.to_numpy(float)
    dur_lines = [(t.keep_min if t.keep_min is not None else t.keep_max, t.reason)
                 for t in thresholds if t.column == "duration_s"]
    dur_plot = plot("duration", plots.histogram(clips.duration_s.to_numpy(float), keep, "clip duration", "seconds",
                                                config.bins, dur_lines))
    mapping = (f"{buckets.kind} mapping of <code>{_esc(buckets.column)}</code> ({_esc(buckets.unit)})"
               + (f", fitted on {buckets.fitted_on:,} kept clips" if buckets.kind == "quantile" else ""))
    examples = ", ".join(f"{m:g} &rarr; {int(buckets.bucket(m)[0])}" for m in (1, 10, 30, 100, 300))
    parts.append(f'<section><h2>Motion buckets, durations, resolutions</h2><p>{mapping}. Examples (px/s@256 '
                 f"&rarr; bucket): {examples}. Kept clips: {len(dur):,}, median duration "
                 f"{np.median(dur) if len(dur) else 0:.1f} s.</p>"
                 f'<div class="grid">{bucket_plot}{dur_plot}{res_plot}</div></section>')

    # -- thumbnails -------------------------------------------------------------------------------------
    def thumbs(rows: pd.DataFrame, label: Callable[[pd.Series], str]) -> str:
        out = []
        for _, row in rows.iterrows():
            out.append(f"<figure><!--thumb:{_esc(row.clip_id)}--><figcaption>{_esc(label(row))}</figcaption>"
                       "</figure>")
        return f'<div class="thumbs">{"".join(out)}</div>'

    n = config.thumbnails
    gallery = []
    if n:
        valid = clips[clips.error.isna()]
        for column in [c for c in SCORES if c in valid.columns and c != "duration_s"]:
            v = valid[valid[column].notna()].sort_values(column)
            if v.empty:
                continue
            fmt = lambda r, c=column: f"{c} {r[c]:.3g} · {_name(r)}"  # noqa: E731
            gallery.append(f"<h3>{_esc(column)}: lowest</h3>" + thumbs(v.head(n), fmt))
            gallery.append(f"<h3>{_esc(column)}: highest</h3>" + thumbs(v.tail(n).iloc[::-1], fmt))
        for j, r in zip(used, names):
            dropped = clips[flags[:, j]].head(n)
            gallery.append(f"<h3>Dropped by “{_esc(r)}”</h3>" + thumbs(
                dropped, lambda row: f"{_name(row)} · " + "; ".join(row.drop_reasons)))
    parts.append('<section><h2>Clips</h2><p class="muted">Middle keyframe of each clip.</p>'
                 + "".join(gallery) + "</section>")

    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_esc(title)}</title>"
            f"<style>{CSS}</style></head><body><header><h1>{_esc(title)}</h1><p>{len(clips):,} clips from "
            f"{len(videos):,} videos; {int(keep.sum()):,} kept.</p></header><main>{''.join(parts)}</main>"
            "</body></html>")
    return page, plots_made
