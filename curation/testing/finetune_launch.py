"""``python -m curation.testing.finetune_launch SPEC``, alone or under ``accelerate launch``, for
tests/train/test_finetune_multiprocess.py and benchmarks/bench_finetune_multiproc.py: a Trainer built from one JSON
argument, with the Trainer options the CLI does not expose (num_workers, checkpoints_total_limit,
sample_log). ``{"shards", "model", "output", "sets": [finetune.KEY=VALUE, ...], "options": {...}}``; prints one
JSON line (the run's result, the rank, the world size and the wall time of the run) per process."""
import json
import os
import sys
import time

from curation.config import load_config
from curation.train.train import Trainer


def main(argv: list[str]) -> None:
    spec = json.loads(argv[0])
    trainer = Trainer(spec["shards"], spec["model"], spec["output"], load_config(None, spec["sets"]).finetune,
                      **spec.get("options", {}))
    started = time.perf_counter()
    result = trainer.run(progress=False)
    accelerator = trainer.accelerator
    line = json.dumps({**result, "rank": accelerator.process_index, "processes": accelerator.num_processes,
                       "run_seconds": time.perf_counter() - started}) + "\n"
    # One write(2) of under PIPE_BUF bytes: the ranks share one stdout pipe, and print's separate writes of the
    # text and its newline let two ranks' lines run together (seen in CI).
    sys.stdout.flush()
    os.write(sys.stdout.fileno(), line.encode())


if __name__ == "__main__":
    main(sys.argv[1:])
