"""The scan stage: a long video split among the stage's cores (one child process each) gives the rows of one
pass."""
import time

import pyarrow as pa
import pytest

from curation.annotate.records import RECORD_SCHEMA
from curation.annotate.source import VIDEO, SourceStage, scan_part_in_child, segment_bounds, split_parts
from curation.config import load_config
from curation.core.storage import StorageOptions
from curation.testing.synthetic import Shot, write_video
from curation.video import probe


def test_split_parts_one_per_core_each_at_least_split_min_s():
    assert split_parts(370.0, 60.0, 2) == 2
    assert split_parts(370.0, 60.0, 16) == 6      # no part under a minute
    assert split_parts(119.0, 60.0, 2) == 1       # under twice the minimum: one pass
    assert split_parts(370.0, 60.0, 1) == 1       # no spare core
    assert split_parts(370.0, 0.0, 8) == 1        # 0 never splits
    # equal parts where they are more than the fixed-length segments; the last is open-ended
    assert segment_bounds(370.0, 600.0, 2) == [(0.0, 185.0), (185.0, None)]
    assert segment_bounds(1500.0, 600.0, 2) == [(0.0, 600.0), (600.0, 1200.0), (1200.0, None)]
    assert segment_bounds(1500.0, 600.0, 4) == [(0.0, 375.0), (375.0, 750.0), (750.0, 1125.0), (1125.0, None)]


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("split") / "long.mp4"
    # 32 s at 25 fps, split at 16 s (frame 400) with split_min_s 12: a cut right at the split, a cut and a
    # dissolve in the second part whose slow-level windows depend on the frame the scan counts from.
    shots = [Shot(230, (0.5, 0.0), seed=1), Shot(170, seed=2), Shot(120, (0.0, 0.4), seed=3),
             Shot(150, seed=4, transition_in=14), Shot(130, (0.3, 0.3), seed=5)]
    truth = write_video(path, shots)
    assert truth.frames == 800
    return path, truth


def _recording(call, number: int, parts: list):
    """``IsolatedWorker.call`` that also notes when child ``number`` scanned a part."""
    def recorded(function, args, timeout):
        start = time.monotonic()
        try:
            return call(function, args, timeout)
        finally:
            if function is scan_part_in_child:
                parts.append((number, start, time.monotonic()))
    return recorded


def _rows(path, cores: int) -> tuple[list[dict], list[dict]]:
    cfg = load_config(None, ["annotate.decode.split_min_s=12"]).annotate
    cfg = cfg.model_copy(update={"stages": ["cuts", "motion", "keyframes"]})
    info = probe(str(path))
    assert len(segment_bounds(info.duration_s, cfg.decode.segment_s,
                              split_parts(info.duration_s, cfg.decode.split_min_s, cores))) == cores
    stage = SourceStage(cfg, StorageOptions(), load_model=False, threads=cores)
    parts: list[tuple[int, float, float]] = []  # (child, start, end) of each part's scan
    for number, worker in enumerate(stage._workers):
        worker.call = _recording(worker.call, number, parts)
    try:
        assert len(stage._workers) == cores  # a child process per part
        table = stage(pa.Table.from_pylist([{"kind": VIDEO, "key": "v", "source": str(path)}]))
    finally:
        stage.close()
    if cores > 1:
        # Each part in its own child, at the same time.
        assert sorted(child for child, _, _ in parts) == list(range(cores)), parts
        assert max(start for _, start, _ in parts) < min(end for _, _, end in parts), parts
    assert table.schema.equals(RECORD_SCHEMA)
    record = table.to_pylist()
    assert len(record) == 1
    return record[0]["rows"], record[0]["keyframes"]


def test_a_video_split_between_two_cores_gives_the_rows_of_one_pass(long_video):
    path, truth = long_video
    whole_rows, whole_keyframes = _rows(path, 1)
    split_rows, split_keyframes = _rows(path, 2)
    assert split_rows == whole_rows
    assert split_keyframes == whole_keyframes
    starts = {r["shot_start_frame"] for r in whole_rows if r["row_kind"] != "transition"}
    assert set(truth.cuts) <= starts
    assert [(r["start_frame"], r["end_frame"]) for r in whole_rows if r["row_kind"] == "transition"]


def test_a_truncated_video_split_in_two_is_reported_as_truncated(tmp_path):
    """The second part of a file cut short starts past its last frame: that is the truncation a single pass
    reports (a warning and a status row, the clips kept), not a failed video."""
    full = tmp_path / "full.mkv"
    write_video(full, [Shot(400, (0.5, 0.0), seed=1), Shot(400, seed=2)])
    data = full.read_bytes()
    cut = tmp_path / "truncated.mkv"
    cut.write_bytes(data[: int(len(data) * 0.35)])  # the header still declares 32 s
    whole, _ = _rows(cut, 1)
    split, _ = _rows(cut, 2)
    # The same rows, but for the last clip's last keyframe: a single pass keeps the file's last frame as a
    # candidate; the first part does not know that its last frame is the file's.
    assert [{**r, "keyframe_last": None} for r in split] == [{**r, "keyframe_last": None} for r in whole]
    # ... and that one difference shows the video really was scanned in two parts (the tests above would pass
    # unchanged if the split never happened).
    assert [r["keyframe_last"] for r in split] != [r["keyframe_last"] for r in whole]
    status = [r for r in split if r["row_kind"] == "status"]
    assert [r["error_kind"] for r in status] == ["truncated"] and status[0]["warning"].startswith("truncated")
    assert [r for r in split if r["row_kind"] == "clip"]


def _damage_packet_at(path, seconds: float, out) -> None:
    """Copy ``path`` to ``out`` with the first NAL unit's length prefix of the non-key packet nearest
    ``seconds`` made impossible: the decoder rejects exactly that packet, wherever the encoder's thread count
    put the bytes (random bytes at a file offset hit one packet, several, or only the container's framing)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [(abs(float(p.pts * stream.time_base) - seconds), bytes(p)) for p in container.demux(stream)
                   if p.size > 64 and not p.is_keyframe]
    payload = min(packets)[1]
    data = bytearray(path.read_bytes())
    offset = data.find(payload)
    assert offset >= 0 and data.find(payload, offset + 1) < 0
    data[offset:offset + 4] = b"\xff\xff\xff\xff"
    out.write_bytes(bytes(data))


@pytest.mark.parametrize("seconds", [14.0, 18.0])
def test_a_damaged_packet_is_counted_once_when_parts_overlap(tmp_path, seconds):
    """Parts decode a few seconds around their range; an undecodable packet there is counted by the part it
    belongs to only, so the split video reports what one pass reports. 32 s split at 16 s, 4 s of context:
    14 s is the first part's and in the second part's context, 18 s the other way round."""
    full = tmp_path / "full.mkv"
    write_video(full, [Shot(400, (0.5, 0.0), seed=1), Shot(400, seed=2)])
    damaged = tmp_path / "damaged.mkv"
    _damage_packet_at(full, seconds, damaged)
    whole, _ = _rows(damaged, 1)
    split, _ = _rows(damaged, 2)
    assert split == whole
    assert {r["decode_errors"] for r in whole} == {1}


def _modules(names):
    import sys

    return [name for name in names if name in sys.modules]


def test_scan_children_ask_one_transnetv2_process_and_give_the_rows_of_an_in_process_scan(tmp_path):
    """The hybrid detector's doubtful candidate is judged by the stage's TransNetV2 process: the scan children
    never import torch, two stage copies share one such process, and the rows equal a scan in this process with
    the model loaded here."""
    from curation.annotate.records import from_ipc
    from curation.annotate.source import scan_in_child
    from curation.testing.synthetic import failure_family_specs

    path = tmp_path / "fast_pans.mp4"
    write_video(path, failure_family_specs(0)["fast_pans"])  # one candidate TransNetV2 decides (fused<luma)
    cfg = load_config(None, ["annotate.stages=[cuts,motion,keyframes]"]).annotate
    assert cfg.cuts.detector == "hybrid"
    first = SourceStage(cfg, StorageOptions(), threads=1)
    second = SourceStage(cfg, StorageOptions(), threads=1)
    try:
        assert first._transnetv2 is second._transnetv2
        table = first(pa.Table.from_pylist([{"kind": VIDEO, "key": "v", "source": str(path)}]))
        # A child that scanned a video and built its record has loaded neither torch nor pandas (pyarrow's
        # check for pandas objects is answered without importing it).
        assert first._workers[0].call(_modules, (["torch", "pandas", "curation.annotate.scan.unit"],), 30) == [
            "curation.annotate.scan.unit"]
    finally:
        first.close()
        second.close()
    rows = table.to_pylist()[0]["rows"]
    assert any("fused<" in (r["boundary_source"] or "") for r in rows)
    here = from_ipc(scan_in_child("v", str(path), probe(str(path)).to_dict(), cfg, 600.0, 1)).to_pylist()
    assert rows == here[0]["rows"]
