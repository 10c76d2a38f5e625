"""The report page: report.html (plots and thumbnails inline) plus, beside it, the folder of preview videos its
thumbnails play on click; both open offline. Built from :class:`~curation.curate.report.aggregate.ReportData`,
the streaming aggregation of the filter output, so the page never needs the table in memory."""
from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable, Sequence

import numpy as np

from curation.contract.schema import MOTION_UNIT
from curation.curate.buckets import MotionBuckets
from curation.curate.config import ReportConfig
from curation.curate.filters import Threshold
from curation.curate.report import plots
from curation.curate.report.aggregate import ClipRef, ReportData, Source, aggregate

# Score columns shown (when present), with their unit.
SCORES = {"motion_mean": MOTION_UNIT, "motion_p90": MOTION_UNIT, "motion_static_frac": "fraction of pixels",
          "aesthetic": "LAION aesthetic score", "text_sim_mean": "image-text cosine similarity",
          "ocr_area_max": "text area / frame area", "camera_shake": f"camera shake, {MOTION_UNIT}",
          "object_motion": f"motion not the camera's, {MOTION_UNIT}", "camera_zoom": "zoom, scale change / s",
          "sharpness": "Laplacian variance at 256 px", "overexposed": "share of pixels",
          "underexposed": "share of pixels", "saturation": "mean HSV saturation",
          "overlay_area": "share of the frame in on-screen graphics", "border_share": "share of the frame in bars"}
# Label columns whose distribution is shown (when present), over all clips and the kept ones.
LABELS = {"camera_motion": "camera motion (camera stage)"}

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
th{background:#f0f3f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:flex;flex-wrap:wrap;gap:16px}.grid img{max-width:100%}
.plot{flex:1 1 520px}.thumbs{display:flex;flex-wrap:wrap;gap:8px}
figure{margin:0;width:176px;font-size:11px;color:#4a5868}
figure img,figure video{width:176px;border-radius:4px;display:block}figcaption{overflow-wrap:anywhere}
a.play{position:relative;display:block}a.play::after{content:"\\25B6";position:absolute;right:6px;bottom:6px;
width:22px;height:22px;border-radius:11px;background:rgba(0,0,0,.6);color:#fff;font-size:11px;line-height:22px;
text-align:center}
.group{border-left:3px solid #e0c25c;padding-left:10px;margin:10px 0}
.warn{background:#fff3cd;border:1px solid #e0c25c;border-radius:6px;padding:10px 14px;font-size:13px}
section p{font-size:14px}.muted,section p.muted{color:#6b7785;font-size:12px}
"""

# A thumbnail with a preview is a link to the mp4 (it opens without scripts too); a click swaps the image for
# an HTML5 <video> that plays in place. report.html#play=<clip_id> opens that clip's video on load.
SCRIPT = """
function openClip(a){var v=document.createElement('video');v.src=a.getAttribute('data-video');v.controls=true;
v.autoplay=true;v.muted=true;v.loop=true;v.playsInline=true;v.setAttribute('data-clip',a.getAttribute('data-clip'));
var img=a.querySelector('img');if(img){v.poster=img.src;}
['playing','error'].forEach(function(e){v.addEventListener(e,function(){v.setAttribute('data-state',e);
v.setAttribute('data-size',v.videoWidth+'x'+v.videoHeight);});});
a.replaceWith(v);var p=v.play();if(p&&p.catch){p.catch(function(){});}return v;}
document.addEventListener('click',function(e){var a=e.target.closest('a.play');if(!a)return;e.preventDefault();
openClip(a);});
window.addEventListener('load',function(){var m=location.hash.match(/^#play=(.+)$/);if(!m)return;
var id=decodeURIComponent(m[1]);var a=Array.prototype.find.call(document.querySelectorAll('a.play'),
function(x){return x.getAttribute('data-clip')===id;});if(a){var v=openClip(a);v.scrollIntoView({block:'center'});}});
"""


def _esc(value) -> str:
    return html.escape(str(value))


def _card(value, label: str) -> str:
    return f'<div class="card"><b>{_esc(value)}</b><span>{_esc(label)}</span></div>'


def _table(headers: list[str], rows: list[list], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td{' class=num' if j in numeric else ''}>{_esc(c)}</td>"
                                    for j, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(src: str, alt: str) -> str:
    return f'<img src="{src}" alt="{_esc(alt)}">'


THUMB = re.compile(r"<!--thumb:([^>]*)-->")


def fill_thumbnails(page: str, jpeg: Callable[[str], bytes | None],
                    video: Callable[[str], str | None] = lambda clip_id: None) -> str:
    """Replace the page's thumbnail placeholders with inline JPEGs (``jpeg(clip_id)``; None = not available),
    each a link that plays the clip's preview (``video(clip_id)``: its address relative to the page; None = a
    still thumbnail)."""
    def image(match: re.Match) -> str:
        escaped = match.group(1)
        clip_id = html.unescape(escaped)
        data, src = jpeg(clip_id), video(clip_id)
        if not data:
            if src:
                return f'<video src="{_esc(src)}" preload="metadata" controls muted loop></video>'
            return '<div class="muted">(no keyframe)</div>'
        img = _img("data:image/jpeg;base64," + base64.b64encode(data).decode(), clip_id)
        if not src:
            return img
        return (f'<a class="play" href="{_esc(src)}" data-video="{_esc(src)}" data-clip="{escaped}" '
                f'title="play the clip">{img}</a>')
    return THUMB.sub(image, page)


def collect(source: Source, thresholds: list[Threshold], config: ReportConfig, available: Sequence[str],
            exclude_errors: bool = True, in_memory: int = 1 << 22) -> ReportData:
    """The page's numbers, streamed from ``source`` (:func:`curation.curate.report.aggregate.parquet_source`)."""
    hist = [c for c in SCORES if c in available] + sorted(
        {t.column for t in thresholds if not t.drop_values} - set(SCORES) - {"short_side", "duration_s"})
    return aggregate(source, thresholds, hist_columns=hist, gallery_columns=list(SCORES), bins=config.bins,
                     thumbnails=config.thumbnails, exclude_errors=exclude_errors, in_memory=in_memory,
                     available=available, label_columns=list(LABELS))


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _footage_lost(data: ReportData) -> str:
    """The table of footage that never became a clip (short or black shots, transitions), next to the
    clips that entered the rules; empty for tables written before such rows were recorded."""
    lost = data.lost
    if lost is None:
        return ""

    def share(seconds: float) -> str:
        return f"{100 * seconds / max(data.video_seconds, 1e-9):.1f}%"

    rows = [["clips (enter the rules)", f"{data.clips:,}", f"{data.clip_seconds:,.1f}", share(data.clip_seconds)]]
    rows += [[f"shots without a clip: {reason}", f"{n:,}", f"{lost.shot_seconds[reason]:,.1f}",
              share(lost.shot_seconds[reason])] for reason, n in sorted(lost.shots.items())]
    rows.append(["gradual transitions", f"{lost.transitions:,}", f"{lost.transition_seconds:,.1f}",
                 share(lost.transition_seconds)])
    return ("<h3>Footage that never became a clip</h3>"
            + _table(["what", "rows", "seconds", "share of video"], rows, (1, 2, 3))
            + '<p class="muted">Detected shots shorter than <code>clips.min_s</code> after trimming, shots of '
            "black frames, and gradual transitions are rows of the table too (<code>row_kind</code>); the rest "
            "of the video is trimmed frames next to transitions.</p>")


def _cuts(data: ReportData) -> str:
    """What the 12.5 / 25 / 50 % cut of each percentile rule would keep, alone and all together."""
    cuts = data.cuts
    if cuts is None or not cuts.rules:
        return ""
    levels = cuts.levels
    head = ["rule", "this run"] + [f"at {q:g} %" for q in levels]
    rows = []
    for rule, bounds, kept in cuts.rules:
        sign = "≥" if rule.side == "bottom" else "≤"
        cells = [f"{sign} {bounds[q]:.4g}: {kept[q]:,} ({_pct(kept[q], cuts.candidates)})" for q in levels]
        rows.append([f"{rule.column} ({rule.side})", rule.threshold.reason] + cells)
    combos = [[f"every percentile rule at {q:g} %", f"{cuts.percentile_only[q]:,}", f"{cuts.kept[q]:,}",
               _pct(cuts.kept[q], cuts.candidates), f"{cuts.kept_seconds[q] / 3600:,.2f}"] for q in levels]
    combos.append(["this run", "", f"{cuts.current:,}", _pct(cuts.current, cuts.candidates),
                   f"{data.kept_seconds / 3600:,.2f}"])
    others = ", ".join(f"<code>{_esc(r)}</code>" for r in cuts.absolute) or "none"
    return ('<section><h2>Other cuts, without rerunning the filter</h2>'
            f"<p>What the 12.5 / 25 / 50 % cut of each percentile rule would keep (the SVD study's cuts), of the "
            f"{cuts.candidates:,} clips that enter the rules. Bounds are exact percentiles over every clip without "
            "an error, as <code>curate filter</code> computes them.</p><h3>Each rule alone</h3>"
            + _table(head, rows)
            + "<h3>The rules together</h3>"
            + _table(["cut", "percentile rules only", "clips kept", "share", "hours kept"], combos, (1, 2, 3, 4))
            + f'<p class="muted">"Clips kept" applies the other rules too ({others}, the error exclusion and '
            "duplicate removal): it is what <code>curate filter</code> keeps with every percentile rule set to that "
            "cut. With duplicate removal on, a duplicate stays dropped as in this run; a rerun at another cut "
            "may keep another member of a group whose kept clip that cut drops, so it can keep a few more.</p>"
            "</section>")


def _thumbs(refs: list[ClipRef], label: Callable[[ClipRef], str]) -> str:
    out = [f"<figure><!--thumb:{_esc(r.clip_id)}--><figcaption>{_esc(label(r))}</figcaption></figure>"
           for r in refs]
    return f'<div class="thumbs">{"".join(out)}</div>'


def _duplicates(data: ReportData) -> str:
    """Duplicate groups (the dedup step's ``duplicate_of:<clip_id>`` reasons): each kept clip with the first
    of its duplicates; nothing when no clip was dropped as a duplicate."""
    dup = data.duplicates
    if not dup.duplicates:
        return ""
    groups = []
    for keeper, members in dup.groups:
        groups.append('<div class="group">' + _thumbs(
            [keeper, *members], lambda r, k=keeper: f"{'kept' if r is k else 'duplicate'}: {r.name}") + "</div>")
    total = f" in {dup.total_groups:,} groups" if dup.total_groups else ""
    more = f"; the first {len(dup.groups)} groups in table order" if dup.more_groups else ""
    return (f"<section><h2>Duplicate groups</h2><p>{dup.duplicates:,} clips dropped as duplicates of a kept "
            f"clip{total} (drop reason <code>duplicate_of:&lt;clip_id&gt;</code>){more}. Each group shows the "
            f"clip it keeps first.</p>{''.join(groups)}</section>")


def build(data: ReportData, thresholds: list[Threshold], buckets: MotionBuckets, config: ReportConfig,
          title: str = "Filtering report") -> tuple[str, list[str]]:
    """(HTML, names of the plots it holds). Thumbnails are placeholders that :func:`fill_thumbnails` replaces,
    so only the clips shown are ever read."""
    plots_made: list[str] = []
    parts: list[str] = []

    def plot(name: str, src: str) -> str:
        plots_made.append(name)
        return f'<div class="plot">{_img(src, name)}</div>'

    # -- summary ----------------------------------------------------------------------------------------
    hours = data.video_seconds / 3600
    warn = ""
    if data.random_weights:
        warn = (f'<p class="warn"><b>Random weights:</b> the {", ".join(data.random_weights)} stage(s) ran with '
                "random-initialised models (tests and demos only): their scores, captions and the filters on "
                "them are meaningless here.</p>")
    errors = sum(data.errors.values())
    cards = "".join([_card(f"{data.videos:,}", "videos"), _card(f"{data.clips:,}", "clips"),
                     _card(f"{hours:.2f}", "hours of video"), _card(f"{data.kept:,}", "clips kept"),
                     _card(f"{data.kept_seconds / 3600:.2f}", "hours kept"), _card(f"{errors:,}", "rows with errors")])
    err_table = _table(["error kind", "rows"], [[k, v] for k, v in data.errors.most_common()], (1,)) if errors \
        else '<p class="muted">No errors.</p>'
    parts.append(f'<section><h2>Dataset</h2>{warn}<div class="cards">{cards}</div>'
                 f"<h3>Errors by kind</h3>{err_table}</section>")

    # -- funnel and overlap -----------------------------------------------------------------------------
    used = data.used_reasons
    names = [data.reasons[j] for j in used]
    rows = [[data.reasons[j], int(data.per_reason[j]), int(data.only_reason[j]),
             f"{100 * data.per_reason[j] / max(data.clips, 1):.1f}%"] for j in used]
    funnel_html = plot("funnel", plots.funnel(data.funnel))
    overlap_html = plot("overlap", plots.overlap(names, data.overlap[np.ix_(used, used)])) if len(names) > 1 else ""
    parts.append(f'<section><h2>What each filter removed</h2><div class="grid">{funnel_html}{overlap_html}</div>'
                 + _table(["rule", "clips dropped", "dropped by this rule only", "share of clips"], rows, (1, 2, 3))
                 + '<p class="muted">The funnel applies the rules in order; every rule is also evaluated on '
                 "every clip (a clip lists all rules that dropped it).</p>" + _footage_lost(data) + "</section>")
    parts.append(_cuts(data))

    # -- score histograms -------------------------------------------------------------------------------
    def lines(column: str) -> list[tuple[float, str]]:
        return [(t.keep_min if t.keep_min is not None else t.keep_max, t.reason)
                for t in thresholds if t.column == column]

    hist_html = []
    for column, hist in data.histograms.items():
        if column == "duration_s":
            continue
        hist_html.append(plot(f"hist:{column}", plots.histogram(hist.edges, hist.kept, hist.dropped, column,
                                                                SCORES.get(column, ""), lines(column))))
    parts.append(f'<section><h2>Scores and thresholds</h2><div class="grid">{"".join(hist_html)}</div></section>')

    # -- distributions ----------------------------------------------------------------------------------
    bucket_plot = plot("motion_buckets", plots.bars([f"{16 * i}-{16 * i + 15}" for i in range(16)],
                                                   list(data.motion_buckets), "motion_bucket_id of kept clips",
                                                   f"bucket ({buckets.kind} mapping of {buckets.column})"))
    res = data.resolutions.most_common(12)
    res_plot = plot("resolution", plots.bars([r for r, _ in res], [c for _, c in res], "resolution (all clips)",
                                             "width x height"))
    dur = data.histograms["duration_s"]
    dur_plot = plot("duration", plots.histogram(dur.edges, dur.kept, dur.dropped, "clip duration", "seconds",
                                                lines("duration_s")))
    mapping = (f"{buckets.kind} mapping of <code>{_esc(buckets.column)}</code> ({_esc(buckets.unit)})"
               + (f", fitted on {buckets.fitted_on:,} kept clips" if buckets.kind == "quantile" else ""))
    examples = ", ".join(f"{m:g} &rarr; {int(buckets.bucket(m)[0])}" for m in (1, 10, 30, 100, 300))
    median = data.kept_duration_median if np.isfinite(data.kept_duration_median) else 0.0
    label_plots = []
    for column, (clips, kept) in data.labels.items():
        if clips:
            names_ = [name for name, _ in clips.most_common()]
            label_plots.append(plot(f"labels:{column}", plots.bars(
                names_, [clips[n] for n in names_], f"{LABELS.get(column, column)}: all clips", column)))
            label_plots.append(plot(f"labels-kept:{column}", plots.bars(
                names_, [kept[n] for n in names_], f"{LABELS.get(column, column)}: kept clips", column)))
    parts.append(f'<section><h2>Motion buckets, durations, resolutions</h2><p>{mapping}. Examples (px/s@256 '
                 f"&rarr; bucket): {examples}. Kept clips: {data.kept:,}, median duration {median:.1f} s.</p>"
                 f'<div class="grid">{bucket_plot}{dur_plot}{res_plot}{"".join(label_plots)}</div></section>')

    # -- thumbnails -------------------------------------------------------------------------------------
    gallery = []
    if config.thumbnails:
        for column in data.lowest:
            fmt = lambda r, c=column: f"{c} {r.value:.3g} · {r.name}"  # noqa: E731
            gallery.append(f"<h3>{_esc(column)}: lowest</h3>" + _thumbs(data.lowest[column], fmt))
            gallery.append(f"<h3>{_esc(column)}: highest</h3>" + _thumbs(data.highest[column], fmt))
        for r in names:
            if data.dropped.get(r):
                gallery.append(f"<h3>Dropped by “{_esc(r)}”</h3>" + _thumbs(
                    data.dropped[r], lambda ref: f"{ref.name} · " + "; ".join(ref.reasons)))
    parts.append('<section><h2>Clips</h2><p class="muted">Middle keyframe of each clip; click one with a ▶ to '
                 "play the clip (its preview, cut from the source, is in the folder beside this page).</p>"
                 + "".join(gallery) + "</section>")
    parts.append(_duplicates(data))

    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_esc(title)}</title>"
            f"<style>{CSS}</style></head><body><header><h1>{_esc(title)}</h1><p>{data.clips:,} clips from "
            f"{data.videos:,} videos; {data.kept:,} kept.</p></header><main>{''.join(parts)}</main>"
            f"<script>{SCRIPT}</script></body></html>")
    return page, plots_made
