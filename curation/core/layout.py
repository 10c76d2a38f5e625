"""Every name the phases leave on disk (or in an object store), defined once: what one phase writes and the
next reads is agreed here, not in string literals spread over the code."""
from __future__ import annotations

# curate annotate: OUTPUT/
ANNOTATIONS = "annotations"          # the clip table, Parquet parts (every part every column)
KEYFRAMES = "keyframes"              # keyframe images, one part per annotation part, same name
PART_PREFIX, PART_SUFFIX = "part-", ".parquet"
JOB_FILE = "job.json"                # the config that decided each section's results, and the schema version
LEASE_FILE = "_lease.json"           # held by the one job writing an output

# curate filter: FILTERED/
CLIPS_FILE = "clips.parquet"         # every clip with keep, drop_reasons, motion_bucket_id
THRESHOLDS_FILE = "thresholds.json"  # the resolved thresholds (reusable with --thresholds)
BUCKETS_FILE = "motion_buckets.json"  # the motion -> bucket mapping; travels with shards and finetuned models
SUMMARY_FILE = "filter.json"         # the funnel and the footage lost

# curate report
REPORT_FILE = "report.html"          # FILTERED/report.html by default

# curate shard: SHARDS/
INDEX_FILE = "index.json"            # the shards, their sample counts and the brace pattern
SHARD_NAME = "shard-{:06d}.tar"

# curate finetune: OUTPUT/
CHECKPOINTS = "checkpoints"          # CHECKPOINTS/step-NNNNNNN/ (accelerate state) and CHECKPOINTS/latest
LATEST = "latest"                    # a text file naming the newest complete checkpoint
LOSS_LOG = "loss.csv"                # the loss averaged over the processes, written by the main process
SAMPLE_LOG = "samples.csv"           # debugging, Trainer(sample_log=True): step, rank, key, that rank's loss
VALIDATION = "validation"            # validation videos
FINETUNE_MARKER = "finetune.json"    # written last: present = the model folder is complete

# Random-initialised weights (tests and speed benchmarks only) carry this marker: a key in an open_clip
# config of ours, or a file of that name (plus .json) in a tiny SVD folder. Their outputs are flagged.
RANDOM_MARKER = "curation_random_init"
RANDOM_MARKER_FILE = RANDOM_MARKER + ".json"
