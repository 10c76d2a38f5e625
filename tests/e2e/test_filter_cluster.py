"""`curate filter --ray-address` on a real local 2-node Ray cluster: the passes over the table run as Ray tasks on
both nodes (one per annotations part) and the output equals the local filter's exactly."""
import json
import shutil

import duckdb
import pytest

from curation.testing.tables import synthetic_annotations
from tests.e2e.test_annotate import curate

pytestmark = pytest.mark.slow
RULES = ("filter.rules=[{column: motion_mean, drop_bottom: 12.5}, {column: aesthetic, drop_bottom: 25, "
         "drop_top: 1}, {column: ocr_area_max, max: 0.05}]")
# The smallest allowed: fewer values than each rule's (~2,700) and the bucket fit's (~1,500), so every
# percentile is found by the histogram passes, not by sorting the column in memory.
SMALL = "filter.in_memory_values=1024"


def _rows(clips):
    return duckdb.sql(f"SELECT count(*) FROM '{clips}'").fetchall()[0][0]


def _difference(a, b):
    """Rows of a not in b, with multiplicity, over every column."""
    return duckdb.sql(f"SELECT count(*) FROM (SELECT * FROM '{a}' EXCEPT ALL SELECT * FROM '{b}')").fetchall()[0][0]


def _order(clips):
    return duckdb.sql(f"SELECT video_id, row_kind, clip_id FROM '{clips}'").fetchall()


def test_filter_on_a_two_node_cluster_equals_the_local_filter(tmp_path):
    from ray.cluster_utils import Cluster

    ann = tmp_path / "ann"
    synthetic_annotations(ann, 3200, rows_per_part=400, seed=11)  # 8 parts
    local = curate("filter", ann, "--output", tmp_path / "local", "--set", RULES, "--set", SMALL)
    assert local.returncode == 0, local.stderr[-3000:]
    assert "on Ray" not in local.stdout
    # A damaged part: the same one-line error from a worker as from this process.
    damaged = tmp_path / "damaged"
    shutil.copytree(ann, damaged)
    (damaged / "annotations" / "part-000005.parquet").write_bytes(b"not parquet")
    local_error = curate("filter", damaged, "--output", tmp_path / "damaged-local")
    assert local_error.returncode == 2 and "part-000005.parquet" in local_error.stderr

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        node_ids = {node.node_id for node in cluster.list_all_nodes()}
        assert len(node_ids) == 2
        run = curate("filter", ann, "--output", tmp_path / "ray", "--ray-address", cluster.address,
                     "--set", RULES, "--set", SMALL)
        ray_error = curate("filter", damaged, "--output", tmp_path / "damaged-ray", "--ray-address", cluster.address)
    finally:
        cluster.shutdown()
    assert run.returncode == 0, run.stderr[-3000:]
    assert ray_error.returncode == 2, ray_error.stderr[-3000:]
    assert ray_error.stderr.splitlines()[-1] == local_error.stderr.splitlines()[-1]
    assert "Traceback" not in ray_error.stderr

    a, b = tmp_path / "local" / "clips.parquet", tmp_path / "ray" / "clips.parquet"
    assert _rows(a) == _rows(b) == 3200
    assert _difference(a, b) == 0 and _difference(b, a) == 0
    assert _order(a) == _order(b)
    for name in ("thresholds.json", "motion_buckets.json"):
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "ray" / name).read_bytes(), name
    record = json.loads((tmp_path / "ray" / "filter.json").read_text())
    assert record["executor"]["kind"] == "ray"
    # Every task ran on a node of this cluster, and both nodes ran some.
    nodes = record["executor"]["nodes"]
    assert set(nodes) == node_ids, nodes
    assert sum(nodes.values()) == record["executor"]["tasks"] and record["executor"]["tasks"] >= 8 * 4
    assert "on 2 nodes" in run.stdout
    local_record = json.loads((tmp_path / "local" / "filter.json").read_text())
    assert local_record["executor"] == {"kind": "local"}
    assert {k: v for k, v in record.items() if k != "executor"} == \
        {k: v for k, v in local_record.items() if k != "executor"}
