"""Each failure family of cut detection, on synthetic videos with exact truth (curation.testing.synthetic):
cuts between similar grey shots, dense cuts, wipes, flashes and strobes, fast pans, fades through black,
held frames (animation on twos/threes), and graphics or camera changes inside a shot (maps recolouring,
counters, captions and lower thirds, picture-in-picture, split screens, focus pulls, exposure jumps), and hard
cuts under a channel's graphics that stay on screen across them (news bars, logo, ticker, subtitles). Variants
0 and 1 were looked at while building the detector; BENCHMARKS.md also reports held-out variants, which
nothing was tuned on."""
import pytest

from curation.config import load_config
from curation.annotate.shots import TransNetV2Model, tiny_picture
from curation.testing.evaluation import score_boundaries
from curation.annotate.scan import unit
from curation.annotate.scan.unit import WorkUnit, scan_unit
from curation.annotate.shots.cascade import CascadeDetector
from curation.testing.spliced import SPLICED, spliced_families, spliced_family_specs, write_spliced
from curation.testing.synthetic import BROADCAST, GRAPHICS, failure_families, failure_family_specs, write_video
from tests.conftest import TESTDATA
from curation.video import probe

FAMILIES = ["grey_montage", "dense_cuts", "wipes", "flashes", "fast_pans", "fades", "held_frames",
            *(f"graphics_{kind}" for kind in GRAPHICS), "broadcast_news", "broadcast_dark"]


@pytest.fixture(scope="module")
def model():
    return TransNetV2Model("cpu")


@pytest.fixture(scope="module")
def families(tmp_path_factory):
    out = {}
    for variant in (0, 1):
        root = tmp_path_factory.mktemp(f"families{variant}")
        for name, truth in failure_families(root, variant).items():
            out[(name, variant)] = (root / f"{name}.mp4", truth)
    return out


def scan(path, detector, model=None):
    cfg = load_config(None, [f"annotate.cuts.detector={detector}", "annotate.stages=[cuts]"]).annotate
    info = probe(path)
    return scan_unit(WorkUnit("v", str(path), 0, 1, 0.0, None, info.width, info.height, info.fps), cfg, model)


@pytest.mark.parametrize("variant", [0, 1])
@pytest.mark.parametrize("family", FAMILIES)
def test_default_detector_exact_on_every_family(families, model, family, variant):
    """The default (hybrid) detector finds every cut and transition of the family and nothing else."""
    path, truth = families[(family, variant)]
    result = scan(path, "hybrid", model)
    score = score_boundaries([(b.start, b.end) for b in result.boundaries], truth.cuts, truth.gradual)
    assert (score.false_positives, score.false_negatives) == (0, 0), (result.boundaries, truth)


@pytest.mark.parametrize("family", FAMILIES)
def test_fast_detector_exact_on_every_family(families, family):
    """``fast`` (no network) on variant 0."""
    path, truth = families[(family, 0)]
    result = scan(path, "fast")
    score = score_boundaries([(b.start, b.end) for b in result.boundaries], truth.cuts, truth.gradual)
    assert (score.false_positives, score.false_negatives) == (0, 0), (result.boundaries, truth)


@pytest.mark.parametrize("family", ["flashes", "fast_pans", "held_frames"])
def test_no_cut_inside_flashes_pans_or_held_frames(families, model, family):
    """The events that look like cuts to a frame-difference score but are not: no boundary inside a shot."""
    for variant in (0, 1):
        path, truth = families[(family, variant)]
        result = scan(path, "hybrid", model)
        for b in result.boundaries:
            assert any(abs(b.end - c) <= 2 for c in truth.cuts), (b, truth)


def test_fade_through_black_is_two_transitions_around_the_black(families, model):
    """A fade out, black frames and a fade in: two transitions, the black frames left between them."""
    path, truth = families[("fades", 0)]
    result = scan(path, "hybrid", model)
    (out_a, out_b), (in_a, in_b) = truth.gradual[:2]
    gradual = [b for b in result.boundaries if not b.is_cut]
    assert len(gradual) == 3, gradual
    first, second = gradual[:2]
    assert first.end <= in_a and second.start > out_b, (first, second, truth.gradual)


@pytest.mark.parametrize("family,variant", [("grey_montage", 12), ("grey_montage", 15), ("dense_cuts", 15),
                                            ("dense_cuts", 18)])
def test_hard_variants(tmp_path, model, family, variant):
    """Variants (from the set tuned on in session 5) where the earlier detector lost cuts: grey montages
    whose cuts TransNetV2 does not see (< 0.02) and dense runs of near-still 5-10-frame shots that the
    hold-aware ratio took for held drawings."""
    truth = failure_families(tmp_path, variant)[family]
    result = scan(tmp_path / f"{family}.mp4", "hybrid", model)
    score = score_boundaries([(b.start, b.end) for b in result.boundaries], truth.cuts, truth.gradual)
    assert (score.false_positives, score.false_negatives) == (0, 0), (result.boundaries, truth)


def assert_exact_in_both_modes(tmp_path, model, family, variant):
    """Variant ``variant`` of ``family`` alone, written to ``tmp_path``: every cut and transition found and
    nothing else, by the hybrid and the fast detector."""
    path = tmp_path / f"{family}.mp4"
    truth = write_video(path, failure_family_specs(variant)[family])
    for detector in ("hybrid", "fast"):
        result = scan(path, detector, model)
        score = score_boundaries([(b.start, b.end) for b in result.boundaries], truth.cuts, truth.gradual)
        assert (score.false_positives, score.false_negatives) == (0, 0), (detector, result.boundaries, truth)


@pytest.mark.parametrize("variant", [2, 7, 12, 13, 102, 157, 169])
def test_fast_pans_whose_alignment_failed(tmp_path, model, variant):
    """Blurred pans of 4-8 px a frame at the 64-px analysis width over textures with large flat areas (tuned
    variants; 102, 157 and 169 of the fresh ones examined on 2026-12-07): the phase correlation's highest peak
    fell on no motion for single frames, mid-pan or at the video's first frames, and each became a false cut or
    a false transition in both modes. The camera's last move, or the correlation's second peak near it, now
    aligns those frames, and the first move found re-aligns the frames before it. In 157 and 169 the pan moves
    onto a flat disc: the HSV score changes coherently while every frame is the one before moved
    (``LumaScorer.tracked``)."""
    assert_exact_in_both_modes(tmp_path, model, "fast_pans", variant)


@pytest.mark.parametrize("variant", [3, 8, 42, 47])
def test_wipes_into_a_moving_shot(tmp_path, model, variant):
    """A wipe into a shot moving 1 px a frame (tuned variants 3 and 8; 42 and 47 of the fresh ones examined on
    2026-12-07): the moving shot's sub-pixel motion added to every one-step luma change, and the coherence test
    lost the wipe in both modes. The test now sums the thumbnails' one-step changes."""
    assert_exact_in_both_modes(tmp_path, model, "wipes", variant)


class _EveryPicture(CascadeDetector):
    """The hybrid cascade making TransNetV2's picture of every frame (as it did before it made only those a
    judged window can hold): the reference the lazy pictures must match."""

    def _keep_tiny(self, features, level1):
        self._tiny.append(tiny_picture(features.bgr))


def test_pictures_only_near_doubtful_candidates_change_nothing(families, model, monkeypatch):
    """The hybrid detector makes TransNetV2's 48x27 pictures only near frames that may be doubtful candidates;
    on every family the boundaries equal those of the cascade with every frame's picture, windows were judged,
    and a share of the frames got no picture."""
    made = []

    def lazy(config, model):
        made.append(CascadeDetector(config, model))
        return made[-1]

    judged = frames = pictures = 0
    for key, (path, _) in families.items():
        monkeypatch.setattr(unit, "build_detector", lambda config, model: _EveryPicture(config, model))
        reference = scan(path, "hybrid", model)
        monkeypatch.setattr(unit, "build_detector", lazy)
        result = scan(path, "hybrid", model)
        assert result.boundaries == reference.boundaries, key
        judged += sum(b.source.startswith(("fused<", "transnetv2<", "grey<")) for b in result.boundaries)
        frames += len(made[-1]._tiny)
        pictures += sum(t is not None for t in made[-1]._tiny)
    assert judged >= 2
    # 48 % of these frames before hybrid also judged doubtful gradual spans, 75 % since (the families are made
    # of transitions and motion; on ../shared's real files: none on a static shot, all on a shaking one).
    assert pictures < 0.8 * frames, (pictures, frames)


@pytest.mark.parametrize("variant", [0, 1])
@pytest.mark.parametrize("family", BROADCAST)
def test_graphics_on_screen_never_make_a_cut(families, model, family, variant):
    """Under a channel's graphics (a ticker scrolling through every frame, a clock, subtitles and headlines
    changing inside the shots) the default detector finds no boundary that is not a cut. (Its recall on the
    news graphics is in the exact test above; the lower third's cut between two dark shots and the score
    bug's cut between two blurred pans are still missed in one variant each, BENCHMARKS.md.)"""
    path, truth = families[(family, variant)]
    result = scan(path, "hybrid", model)
    score = score_boundaries([(b.start, b.end) for b in result.boundaries], truth.cuts, truth.gradual)
    assert score.false_positives == 0, (result.boundaries, truth)


@pytest.fixture(scope="module")
def spliced(tmp_path_factory):
    """Variant 0 of every family built from real footage (curation.testing.spliced)."""
    if not TESTDATA.is_dir():
        pytest.skip("../shared/testdata is absent")
    root = tmp_path_factory.mktemp("spliced0")
    return {name: (root / f"{name}.mp4", truth) for name, truth in spliced_families(root, TESTDATA, 0).items()}


@pytest.mark.parametrize("family", SPLICED)
def test_default_detector_exact_on_real_footage_families(spliced, model, family):
    """Real shots joined again by cuts, dissolves, fades and wipes, under graphics, with flashes (variant 0,
    examined): every cut and transition found and nothing else."""
    path, truth = spliced[family]
    result = scan(path, "hybrid", model)
    score = score_boundaries([(b.start, b.end) for b in result.boundaries], truth.cuts, truth.gradual)
    assert (score.false_positives, score.false_negatives) == (0, 0), (result.boundaries, truth)


@pytest.mark.skipif(not TESTDATA.is_dir(), reason="../shared/testdata is absent")
def test_transitions_between_moving_real_shots(tmp_path, model):
    """Real footage (examined variants): a 29-frame dissolve between two moving shots of Big Buck Bunny
    (variant 1; inside a transition longer than the slow step the span's ends are one picture exposed
    differently, the frames outside it are not) and a dissolve into a street shot moving 6-9 grey levels a
    frame (variant 2; the transition sums to less than 0.8 of its one-step changes but stands out against the
    windows on either side). Both were lost before, in both modes."""
    specs = {1: spliced_family_specs(TESTDATA, 1)["real_dissolves"],
             2: spliced_family_specs(TESTDATA, 2)["real_fades"]}
    for variant, spec in specs.items():
        path = tmp_path / f"{variant}.mp4"
        truth = write_spliced(path, spec, TESTDATA)
        wanted = truth.gradual[:1] if variant == 1 else truth.gradual
        for detector in ("hybrid", "fast"):
            found = [(b.start, b.end) for b in scan(path, detector, model).boundaries]
            score = score_boundaries(found, [], wanted)
            assert score.false_negatives == 0, (variant, detector, found, truth)


@pytest.mark.skipif(not TESTDATA.is_dir(), reason="../shared/testdata is absent")
@pytest.mark.parametrize("variant, family", [(1, "real_dissolves"), (3, "real_fades")])
def test_dissolves_into_a_shaking_real_shot(tmp_path, model, variant, family):
    """Real footage (examined variants): a dissolve into the handheld cockatoo shot, which shakes more over 16
    frames than the dissolve changes the picture, so no slow test takes it. In ``hybrid`` TransNetV2 judges
    such doubtful spans (a luma k-step change over the threshold, at least 0.6 of its one-step sum) in
    48-frame windows, and finds it; every cut and transition of the video is found and nothing else."""
    path = tmp_path / f"{family}.mp4"
    truth = write_spliced(path, spliced_family_specs(TESTDATA, variant)[family], TESTDATA)
    found = [(b.start, b.end) for b in scan(path, "hybrid", model).boundaries]
    score = score_boundaries(found, truth.cuts, truth.gradual)
    assert (score.false_positives, score.false_negatives) == (0, 0), (found, truth)
