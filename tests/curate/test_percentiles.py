"""Exact percentiles equal numpy's, in memory and by streaming selection over chunks."""
import numpy as np
import pytest

from curation.curate.percentiles import order_statistic, percentiles

QS = [0, 1, 12.5, 25, 50, 75, 87.5, 99, 100]


@pytest.mark.parametrize("kind", ["normal", "ties", "constant", "integers", "heavy_tail"])
@pytest.mark.parametrize("in_memory", [1 << 24, 300])  # the second forces the streaming selection
def test_equal_to_numpy(kind, in_memory):
    rng = np.random.default_rng(7)
    data = {"normal": rng.normal(size=20001), "ties": np.round(rng.exponential(size=9000), 1),
            "constant": np.full(1001, 3.25), "integers": rng.integers(0, 4, 5003).astype(float),
            "heavy_tail": rng.pareto(1.1, 12000)}[kind]
    chunks = np.array_split(data, 17)
    got = percentiles(lambda: iter(chunks), QS, in_memory=in_memory)
    assert got == list(np.percentile(data, QS))


def test_missing_values_are_skipped_and_an_empty_column_gives_nan():
    data = np.array([np.nan, 1.0, 2.0, np.inf, 3.0])
    assert percentiles(lambda: [data], [50]) == [2.0]
    assert np.isnan(percentiles(lambda: [np.array([np.nan])], [50])[0])


def test_order_statistic():
    data = np.random.default_rng(1).normal(size=5000)
    assert order_statistic(lambda: np.array_split(data, 9), 1234, in_memory=50) == np.sort(data)[1234]


@pytest.mark.parametrize("in_memory", [1 << 24, 100, 7])
def test_many_quantiles_at_once(in_memory):
    """The 257 knots of the motion-bucket mapping, found in shared passes, equal numpy's."""
    rng = np.random.default_rng(3)
    data = np.concatenate([rng.lognormal(1, 1.5, 30000), np.zeros(4000), np.full(500, 7.0)])
    qs = list(np.linspace(0, 100, 257))
    chunks = np.array_split(rng.permutation(data), 23)
    assert percentiles(lambda: iter(chunks), qs, in_memory=in_memory) == list(np.percentile(data, qs))
