"""Semantic duplicates on the CLIP image embeddings (SemDeDup, Abbas et al. 2023): k-means on the embeddings,
then, inside each cluster, every pair whose cosine similarity is at least a threshold.

Clustering makes the comparison scale: with k clusters of about n / k clips each, the pairwise step costs about
n * (n / k) dot products instead of n * n. k-means is faiss's (spherical, 10 iterations on a sample of at most
``sample_per_cluster`` clips per cluster); the in-cluster products are BLAS matrix products in blocks. A pair
split between two clusters is missed; ``probes`` > 1 puts every clip into its nearest ``probes`` clusters (finds
more such pairs, costs about probes squared as much).

Embeddings are L2-normalised here (the stored ones are, up to float16 rounding); rows without an embedding take
no part. Memory: the embeddings as given (float16 in the table: n x D x 2 bytes) plus one cluster as float32 and
one block of products.
"""
from __future__ import annotations

import math

import numpy as np


def default_clusters(n: int) -> int:
    """About 1,000 clips per cluster, and at least 39 training clips per cluster (faiss's floor)."""
    return int(max(1, min(math.ceil(n / 1000), n // 39)))


def _unit(block: np.ndarray) -> np.ndarray:
    """Rows as float32 unit vectors (zero rows stay zero)."""
    x = np.asarray(block, np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1)


def kmeans(embeddings: np.ndarray, rows: np.ndarray, clusters: int, iterations: int = 10,
           sample_per_cluster: int = 128, seed: int = 0) -> np.ndarray:
    """Spherical k-means centroids, (clusters, D) float32 unit vectors, trained on a random sample of at most
    ``sample_per_cluster`` x ``clusters`` of ``rows``."""
    import faiss

    clusters = max(1, min(clusters, len(rows)))
    rng = np.random.default_rng(seed)
    size = min(len(rows), clusters * sample_per_cluster)
    sample = _unit(embeddings[np.sort(rng.choice(rows, size, replace=False))])
    km = faiss.Kmeans(embeddings.shape[1], clusters, niter=iterations, spherical=True, seed=seed,
                      max_points_per_centroid=size, min_points_per_centroid=1, verbose=False)
    km.train(sample)
    return km.centroids


def assign(embeddings: np.ndarray, rows: np.ndarray, centroids: np.ndarray, probes: int = 1,
           block: int = 65536) -> np.ndarray:
    """The ``probes`` most similar centroids of each of ``rows``: (len(rows), probes) int64."""
    probes = min(probes, len(centroids))
    out = np.empty((len(rows), probes), np.int64)
    for start in range(0, len(rows), block):
        sims = _unit(embeddings[rows[start:start + block]]) @ centroids.T
        if probes == 1:
            out[start:start + block, 0] = sims.argmax(axis=1)
        else:
            out[start:start + block] = np.argpartition(-sims, probes - 1, axis=1)[:, :probes]
    return out


def semantic_pairs(embeddings: np.ndarray, valid: np.ndarray | None = None, threshold: float = 0.95,
                   clusters: int | None = None, probes: int = 1, iterations: int = 10,
                   sample_per_cluster: int = 128, block: int = 2048,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of semantic duplicates: (a, b, cosine) row indices with a < b and cosine similarity >= ``threshold``
    (default 0.95) that k-means put in one cluster.

    embeddings: (n, D) float16 or float32 (converted block by block: memory stays about the input's);
        valid: rows that have one (default all).
    clusters: k (default :func:`default_clusters`, about 1,000 rows per cluster).
    probes: clusters each row joins (default 1).
    iterations, sample_per_cluster, seed: k-means (default 10 iterations on at most 128 rows per cluster).
    block: rows per matrix product inside a cluster (fewer in a large cluster: one product stays under 128 MiB).
    """
    n = len(embeddings)
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    rows = np.arange(n) if valid is None else np.flatnonzero(valid)
    if len(rows) < 2:
        return empty
    k = clusters or default_clusters(len(rows))
    centroids = kmeans(embeddings, rows, k, iterations, sample_per_cluster, seed)
    labels = assign(embeddings, rows, centroids, probes)
    flat = labels.ravel()
    member = np.repeat(rows, labels.shape[1])
    order = np.argsort(flat, kind="stable")
    flat, member = flat[order], member[order]
    starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]])
    ends = np.r_[starts[1:], len(flat)]
    a_parts, b_parts, s_parts = [], [], []
    for start, end in zip(starts, ends):
        if end - start < 2:
            continue
        idx = member[start:end]
        vectors = _unit(embeddings[idx])
        step = max(16, min(block, (1 << 25) // len(idx)))  # a block of products stays under 128 MiB
        for i0 in range(0, len(idx), step):
            sims = vectors[i0:i0 + step] @ vectors[i0:].T  # rows i0.., columns i0..: upper triangle only
            hit = np.flatnonzero(sims.ravel() >= threshold)
            i, j = np.divmod(hit, sims.shape[1])
            keep = j > i  # column j is row i0 + j; i is row i0 + i
            i, j = i[keep], j[keep]
            a_parts.append(idx[i0 + i])
            b_parts.append(idx[i0 + j])
            s_parts.append(sims[i, j])
    if not a_parts:
        return empty
    a, b, s = np.concatenate(a_parts), np.concatenate(b_parts), np.concatenate(s_parts)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key, first = np.unique(lo.astype(np.int64) * n + hi, return_index=True)
    return key // n, key % n, s[first]
