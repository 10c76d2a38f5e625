"""The passes of `curate filter` as maps over parts: every per-part function and result survives pickling (what
a cluster runner does to them), and a mapper that runs parts in another order changes no result."""
import pickle

import numpy as np
import pytest

from curation.config import load_config
from curation.core.errors import ConfigError
from curation.core.storage import StorageOptions
from curation.curate.buckets import MotionBuckets
from curation.curate.filter_job import filtered_part, motion_values
from curation.curate.filters import columns_read, resolve
from curation.curate.sources import PartsSource, Values, local_map
from curation.annotate.table import TABLE_SCHEMA
from curation.testing.tables import synthetic_annotations

RULES = ["filter.rules=[{column: motion_mean, drop_bottom: 12.5}, {column: aesthetic, drop_bottom: 25, "
         "drop_top: 1}, {column: ocr_area_max, max: 0.05}]"]


def shipped_backwards(fn, items):
    """A mapper like a cluster's: the function and every result cross a pickle boundary; parts run last first."""
    fn = pickle.loads(pickle.dumps(fn))
    results = {i: pickle.dumps(fn(item)) for i, item in reversed(list(enumerate(items)))}
    return (pickle.loads(results[i]) for i in range(len(items)))


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    root = tmp_path_factory.mktemp("ann")
    synthetic_annotations(root, 3000, rows_per_part=350, seed=4)
    return tuple(str(p) for p in sorted((root / "annotations").glob("part-*.parquet")))


def test_shipped_parts_give_the_same_thresholds_buckets_and_rows(parts):
    config = load_config(None, RULES)
    here = PartsSource(parts, TABLE_SCHEMA, StorageOptions(), local_map)
    shipped = PartsSource(parts, TABLE_SCHEMA, StorageOptions(), shipped_backwards)
    thresholds = resolve(here, config.filter, in_memory=100)
    assert resolve(shipped, config.filter, in_memory=100) == thresholds
    columns = tuple(columns_read(thresholds))
    kept = {s: Values(s, columns, _kept_motion(thresholds)) for s in (here, shipped)}
    buckets = MotionBuckets.fit_quantile(kept[here], "motion_mean", in_memory=100)
    assert MotionBuckets.fit_quantile(kept[shipped], "motion_mean", in_memory=100) == buckets
    assert buckets.knots[128] == np.percentile(np.concatenate(list(kept[here].map(np.asarray))), 50)
    step = _step(thresholds, buckets)
    for (a, tally_a), (b, tally_b) in zip(here.map(step, None), shipped.map(step, None), strict=True):
        assert a.equals(b) and tally_a == tally_b


def _kept_motion(thresholds):
    from functools import partial

    return partial(motion_values, column="motion_mean", thresholds=thresholds, exclude_errors=True, kept_only=True)


def _step(thresholds, buckets):
    from functools import partial

    return partial(filtered_part, thresholds=thresholds, exclude_errors=True, buckets=buckets, finish=True)


def test_executor_settings_are_validated():
    assert load_config(None, []).filter.executor == "local"
    cfg = load_config(None, ["filter.executor=ray", "filter.ray.address=10.0.0.1:6379"]).filter
    assert (cfg.executor, cfg.ray.address, cfg.ray.num_cpus) == ("ray", "10.0.0.1:6379", 0)
    for bad, key in ((["filter.executor=dask"], "filter.executor"),
                     (["filter.ray.adress=x"], "filter.ray.adress"),
                     (["filter.ray.num_cpus=-1"], "filter.ray.num_cpus"),
                     (["filter.ray.address=10.0.0.1:6379"], "filter.ray.address")):
        with pytest.raises(ConfigError, match=key):
            load_config(None, bad)
