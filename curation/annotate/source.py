"""The first stage of the annotate graph: one input in, its record out.

An input is a video to scan (probe, then one decode per segment: cuts, motion, keyframes; then the clip rows),
or a committed part that a rerun completes with model stages (read back as it is). The scan runs in an isolated
child process under the time limit (:mod:`curation.core.isolation`); the child returns the video's record as Arrow
IPC bytes, so the worker itself stays light: no decoder, no detector, no torch.
"""
from __future__ import annotations

import math
import os
import pickle
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

from curation.core import storage
from curation.annotate.store import AnnotateOutput
from curation.annotate.records import RECORD_SCHEMA, empty_row, from_ipc, make_record, part_record, to_ipc
from curation.annotate.config import AnnotateConfig
from curation.core.errors import INTERNAL_ERROR, internal_report
from curation.core.faults import inject
from curation.core.isolation import CallFailed, IsolatedWorker, WorkerCrashed, ask_parent, in_child
from curation.video.errors import VideoError

# Probing reads a header and one frame; a minute is generous and still catches a stuck file.
PROBE_TIMEOUT_S = 60.0
# The scan stage's service that runs TransNetV2 for its children, and the limit on one call of it (a batch of
# windows, or a whole video with the ``transnetv2`` detector: about 10 ms a frame on 2 CPU cores).
TRANSNETV2_SERVICE = "transnetv2"
TRANSNETV2_TIMEOUT_S = 3600.0
# Input kinds (column ``kind`` of an input row; ``key`` is the video id or the part name, ``source`` the video
# URI or the annotate output holding the part). REFUSED: a video the job cannot name in its output (a file name
# that is not UTF-8; ``source`` is its escaped name), reported and never opened.
VIDEO, PART, REFUSED = "video", "part", "refused"

_MODEL = None


def segment_bounds(duration_s: float, segment_s: float, parts: int = 1) -> list[tuple[float, float | None]]:
    """Time ranges of a video's segments, seconds: ``segment_s`` long each, or ``parts`` equal ones where that
    gives more (a long video split among cores, :func:`split_parts`). The last one is open-ended (frames past
    the declared duration still belong to it)."""
    n = max(1, math.ceil(duration_s / segment_s - 1e-9)) if duration_s > 0 else 1
    length = segment_s
    if parts > n:
        n, length = parts, duration_s / parts
    bounds = [(k * length, (k + 1) * length) for k in range(n)]
    bounds[-1] = (bounds[-1][0], None)
    return bounds


def split_parts(duration_s: float, split_min_s: float, cores: int) -> int:
    """How many parts a scan child with ``cores`` cores cuts a video of ``duration_s`` seconds into, to scan
    them at the same time: one per core, each at least ``split_min_s`` seconds (0: never split)."""
    if split_min_s <= 0 or cores <= 1:
        return 1
    return max(1, min(cores, int(duration_s // split_min_s)))


def _load_transnetv2():
    """TransNetV2 in this process, loaded once (torch is imported here, not at module level)."""
    global _MODEL
    if _MODEL is None:
        import torch

        from curation.annotate.shots import TransNetV2Model

        # A scan worker given a GPU (annotate.ray.scan.num_gpus) sees it; Ray hides GPUs from the others.
        _MODEL = TransNetV2Model("cuda" if torch.cuda.is_available() else "cpu")
    return _MODEL


class _LazyModel:
    """TransNetV2 in this process, loaded the first time the detector asks it something: a scan run in process
    (tests, benchmarks); the scan stage's children ask the stage's TransNetV2 process (:class:`_RemoteModel`)."""

    def predict_windows(self, *args, **kwargs):
        return _load_transnetv2().predict_windows(*args, **kwargs)

    def predict_all(self, *args, **kwargs):
        return _load_transnetv2().predict_all(*args, **kwargs)


class _RemoteModel:
    """In a scan child: TransNetV2 in the stage's own TransNetV2 process, reached through the stage
    (``ask_parent``). Only the windows travel: a few frames of 48x27 a doubtful candidate."""

    def predict_windows(self, tiny, centers: list[int], window: int):
        from curation.annotate.shots.transnetv2 import judge_windows

        if not centers:
            return []
        starts, windows = judge_windows(tiny, centers, window)
        return list(zip(starts, ask_parent(TRANSNETV2_SERVICE, ("judge", windows))))

    def predict_all(self, tiny):
        return ask_parent(TRANSNETV2_SERVICE, ("predict_all", tiny))


def _transnetv2(config: AnnotateConfig) -> _LazyModel | _RemoteModel | None:
    """The TransNetV2 model when the detector needs it: the stage's TransNetV2 process from a scan child, else
    loaded in this process when first used."""
    from curation.annotate.shots import needs_transnetv2

    if not needs_transnetv2(config.cuts):
        return None
    return _RemoteModel() if in_child() else _LazyModel()


def warm_transnetv2(threads: int) -> None:
    """Runs in a new TransNetV2 process: caps torch's threads at ``threads`` (0: one per core) and loads the
    model."""
    if threads:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    _load_transnetv2()


def transnetv2_in_child(method: str, frames):
    """Runs in the TransNetV2 process: ``judge`` (stacked windows) or ``predict_all`` (a whole sequence)."""
    model = _load_transnetv2()
    return {"judge": model.judge, "predict_all": model.predict_all}[method](frames)


class _TransNetV2Process:
    """One TransNetV2 process shared by every scan stage copy of this process (reference counted): each scan
    child asks it through its stage, so the model is loaded once, not once per child (torch and the weights
    cost 1.2-1.5 s of CPU), and ahead of the first doubtful candidate, not at the end of a long video's parts
    where every part would wait for it. Calls are taken one at a time; the first copy's ``threads`` sets its
    torch threads."""

    _lock = threading.Lock()
    _shared: _TransNetV2Process | None = None
    _users = 0

    def __init__(self, threads: int) -> None:
        self._worker = IsolatedWorker(warmup=(warm_transnetv2, (threads,)))
        self._call_lock = threading.Lock()

    @classmethod
    def acquire(cls, threads: int, start: bool) -> _TransNetV2Process:
        with cls._lock:
            if cls._shared is None:
                cls._shared = cls(threads)
            cls._users += 1
            if start:
                cls._shared._worker.start()
            return cls._shared

    def release(self) -> None:
        with self._lock:
            type(self)._users -= 1
            if type(self)._users == 0:
                self._worker.close()
                type(self)._shared = None

    def __call__(self, method: str, frames):
        with self._call_lock:
            return self._worker.call(transnetv2_in_child, (method, frames), TRANSNETV2_TIMEOUT_S)


def warm_child(config: AnnotateConfig, options: storage.StorageOptions, threads: int = 0) -> None:
    """Runs in a new child before its first video: configures storage and imports the scan. ``threads`` > 0
    caps the threads OpenCV uses in the child (0: its default, one per core)."""
    if threads:
        # Several scan children share the machine: each library's own pool of one thread per core would
        # oversubscribe the cores.
        import cv2

        os.environ["OMP_NUM_THREADS"] = str(threads)
        cv2.setNumThreads(threads)
    import curation.annotate.scan.assemble  # noqa: F401
    import curation.annotate.scan.unit  # noqa: F401
    from curation.core.arrow import skip_pandas_probe

    skip_pandas_probe()
    storage.configure(options)


def probe_in_child(path: str) -> dict:
    from curation.video import probe

    inject("probe", path)
    return probe(path).to_dict()


def _record(video_id: str, video, results: list, config: AnnotateConfig) -> bytes:
    """The video's record (Arrow IPC bytes) from its scanned units (``UnitResult``, in any order)."""
    from curation.annotate.scan.assemble import assemble_video

    output = assemble_video(video_id, video, results, config)
    return to_ipc(make_record(output.rows, output.keyframes, video_id=video_id))


def _units(video_id: str, path: str, video, config: AnnotateConfig, parts: int) -> list:
    """The video's work units: its segments, or ``parts`` equal parts (:func:`segment_bounds`)."""
    from curation.annotate.scan.unit import WorkUnit

    bounds = segment_bounds(video.duration_s, config.decode.segment_s, parts)
    return [WorkUnit(video_id, path, k, len(bounds), start, end, video.width, video.height, video.fps)
            for k, (start, end) in enumerate(bounds)]


def scan_in_child(video_id: str, path: str, info: dict, config: AnnotateConfig, timeout_s: float,
                  cores: int = 0) -> bytes:
    """Runs in the child: every segment of the video, one after the other, each under its own deadline,
    assembled into the video's record (Arrow IPC bytes). ``cores``: the cores this child may use (default 0:
    not known); the video is decoded with that many threads unless ``decode.threads`` sets them. A long video
    split among several children is scanned by :func:`scan_part_in_child` and :func:`assemble_in_child`."""
    from curation.annotate.scan.unit import scan_unit
    from curation.video import VideoInfo

    inject("scan", path)
    video = VideoInfo(**info)
    model = _transnetv2(config)
    # FFmpeg's own choice is a frame thread per core of the machine and one more. A child given a share of the
    # cores (several children on one machine) gains nothing from more threads than its share, and pays for
    # switching and frame threading: on 120 short clips, 2 children decoding with one thread each used 4 % and
    # 11 % less CPU than with FFmpeg's choice in two A/B pairs of the job (BENCHMARKS.md).
    threads = config.decode.threads or cores or None
    results = []
    for unit in _units(video_id, path, video, config, 1):
        results.append(scan_unit(unit, config, model, deadline=time.monotonic() + timeout_s, decode_threads=threads))
        if results[-1].error_kind is not None:
            break
    return _record(video_id, video, results, config)


def scan_part_in_child(video_id: str, path: str, info: dict, config: AnnotateConfig, parts: int, index: int,
                       timeout_s: float, threads: int) -> bytes:
    """Runs in a child: unit ``index`` of the video cut into ``parts`` parts (:func:`segment_bounds`), under
    its own deadline, with ``threads`` threads for OpenCV (and ``decode.threads // parts`` for the decoder, at
    least one). Returns the :class:`~curation.annotate.scan.unit.UnitResult` pickled, for
    :func:`assemble_in_child` in another child (the parent passes it on unread: it imports no scan code)."""
    import cv2

    from curation.annotate.scan.unit import scan_unit
    from curation.video import VideoInfo

    inject("scan", path)
    unit = _units(video_id, path, VideoInfo(**info), config, parts)[index]
    before = cv2.getNumThreads()
    # The parts keep the cores busy: OpenCV's own pool per call would only add waiting threads.
    cv2.setNumThreads(threads)
    try:
        result = scan_unit(unit, config, _transnetv2(config), time.monotonic() + timeout_s,
                           decode_threads=max(1, config.decode.threads // parts))
    finally:
        cv2.setNumThreads(before)
    return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)


def assemble_in_child(video_id: str, info: dict, config: AnnotateConfig, units: list[bytes]) -> bytes:
    """Runs in a child: the record (Arrow IPC bytes) of a video from its parts' pickled results
    (:func:`scan_part_in_child`). A failed part ends the video where it failed (``assemble_video`` uses the
    parts up to it), as in one pass; the later parts' work is wasted."""
    from curation.video import VideoInfo

    return _record(video_id, VideoInfo(**info), [pickle.loads(u) for u in units], config)


def error_record(video_id: str, path: str, kind: str, message: str) -> pa.Table:
    """The record of a video that failed before any frame was analysed: one status row."""
    row = empty_row(video_id, path)
    row.update(error_kind=kind, error=message)
    return make_record([row], [], video_id=video_id)


def internal_error_record(video_id: str, path: str, exc_type: str, message: str, trace: str) -> pa.Table:
    """The record of a video whose handling raised an unexpected exception: one status row of kind
    ``internal_error`` naming the exception; the record carries the traceback to the driver, for the job's log
    (:func:`~curation.core.errors.internal_report`)."""
    row = empty_row(video_id, path)
    row.update(error_kind=INTERNAL_ERROR, error=f"{exc_type}: {message}")
    return make_record([row], [], video_id=video_id, internal_errors=[internal_report(path, trace)])


class SourceStage:
    """Input rows: ``kind`` (video or part), ``key``, ``source``; output: one record per input.

    One scan child per stage copy, and, where a long video may be split among the copy's cores
    (``decode.split_min_s`` > 0 and ``threads`` >= 2), a helper child for each further core: the parts of a
    split video are scanned in separate processes, not in threads of one, because two scans in one process
    contend for the GIL (their many short calls into OpenCV and NumPy each hand it over): in process, 180 s of
    720p in two parts with the ``fast`` detector took 9.7-9.9 s in two processes against 10.5-10.8 s in two
    threads (BENCHMARKS.md). When the detector
    uses TransNetV2, the children ask one TransNetV2 process, shared by the copies in this process
    (:class:`_TransNetV2Process`)."""

    batch_format = "pyarrow"

    def __init__(self, config: AnnotateConfig, options: storage.StorageOptions, load_model: bool = True,
                 threads: int = 0):
        """``threads``: OpenCV threads in the scan child, torch threads in the TransNetV2 process, and the cores a
        long video is split among (``decode.split_min_s``) (default 0: the libraries' defaults, no split).
        ``load_model``: start the
        TransNetV2 process (and load the model) now, overlapping the job's start, rather than at the first
        doubtful candidate (default True)."""
        from curation.annotate.shots import needs_transnetv2

        self._config = config
        self._cores = threads
        storage.configure(options)
        self._transnetv2 = (_TransNetV2Process.acquire(threads, start=load_model)
                            if needs_transnetv2(config.cuts) else None)
        services = {TRANSNETV2_SERVICE: self._transnetv2} if self._transnetv2 is not None else {}
        self._workers = [IsolatedWorker(warmup=(warm_child, (config, options, threads)), services=services)]
        if config.decode.split_min_s > 0 and threads >= 2:
            self._workers += [IsolatedWorker(warmup=(warm_child, (config, options, 1)), services=services)
                              for _ in range(threads - 1)]
        for worker in self._workers:
            worker.start()  # their start-up overlaps the worker's

    def __call__(self, batch: pa.Table) -> pa.Table:
        records = []
        for kind, key, source in zip(*(batch.column(c).to_pylist() for c in ("kind", "key", "source"))):
            if kind == PART:
                rows, keyframes = AnnotateOutput(source).read_part(key)
                records.append(part_record(key, rows, keyframes))
            elif kind == REFUSED:
                records.append(error_record(key, source, "unreadable", "the file name is not valid UTF-8 (shown "
                                            "with \\x escapes); rename the file to annotate it"))
            else:
                records.append(self._scan(key, source))
        return pa.concat_tables(records) if records else RECORD_SCHEMA.empty_table()

    def _scan(self, video_id: str, path: str) -> pa.Table:
        timeout = self._config.decode.timeout_s
        first = self._workers[0]
        try:
            info = first.call(probe_in_child, (path,), min(PROBE_TIMEOUT_S, timeout))
            inject("source", path)
            decode = self._config.decode
            parts = split_parts(info["duration_s"], decode.split_min_s, len(self._workers))
            n = len(segment_bounds(info["duration_s"], decode.segment_s, parts))
            # The child stops each segment at its deadline and returns what it has; the parent's limit adds a
            # margin for that.
            if parts == 1:
                data = first.call(scan_in_child, (video_id, path, info, self._config, timeout, self._cores),
                                  n * timeout + 30)
            else:
                units = self._scan_parts(video_id, path, info, parts, n)
                data = first.call(assemble_in_child, (video_id, info, self._config, units), timeout + 30)
            return from_ipc(data)
        except VideoError as exc:
            return error_record(video_id, path, exc.kind, exc.message)
        # The per-file boundary: nothing in a file's bytes may end the job. An exception its handling raised,
        # in the child (CallFailed) or here, costs that file alone; a child that cannot start is no file's doing.
        except CallFailed as exc:
            return internal_error_record(video_id, path, exc.exc_type, exc.message, exc.child_traceback)
        except WorkerCrashed:
            raise
        except Exception as exc:  # noqa: BLE001 - made a row (see above), with its traceback in the job log
            return internal_error_record(video_id, path, type(exc).__name__, str(exc), traceback.format_exc())

    def _scan_parts(self, video_id: str, path: str, info: dict, parts: int, n: int) -> list[bytes]:
        """The ``n`` units of a video cut into ``parts`` parts, scanned by the first ``parts`` children at the
        same time, each taking the next unit when it is free; their pickled results in unit order. A child
        killed (time limit, crash) fails the video, as it does unsplit."""
        workers = self._workers[:parts]
        threads = max(1, self._cores // parts)
        timeout = self._config.decode.timeout_s
        pending = list(range(n))
        lock = threading.Lock()
        out: dict[int, bytes] = {}

        def serve(worker: IsolatedWorker) -> None:
            while True:
                with lock:
                    if not pending:
                        return
                    index = pending.pop(0)
                out[index] = worker.call(scan_part_in_child, (video_id, path, info, self._config, parts, index,
                                                              timeout, threads), timeout + 30)

        with ThreadPoolExecutor(len(workers), thread_name_prefix="part") as pool:
            futures = [pool.submit(serve, worker) for worker in workers]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                with lock:
                    pending.clear()  # the other children stop after their current unit
                raise
        return [out[k] for k in range(n)]

    def close(self) -> None:
        for worker in self._workers:
            worker.close()
        if self._transnetv2 is not None:
            self._transnetv2.release()
            self._transnetv2 = None
