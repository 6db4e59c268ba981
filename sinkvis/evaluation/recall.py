"""Attention recall: the share of each query's full-cache attention mass that an eviction policy keeps."""

from __future__ import annotations

from typing import Any

import numpy as np


def _expand_groups(occupancy: np.ndarray, group_size: int, num_heads: int) -> np.ndarray:
    """Repeat a per-KV-head occupancy ``[..., H/G, T, T]`` to the query heads ``[..., H, T, T]``."""
    if occupancy.ndim < 3 or occupancy.shape[-3] * group_size != num_heads:
        raise ValueError(
            f"with group_size={group_size} the occupancy needs {num_heads // group_size} KV heads on its "
            f"third-last axis to match {num_heads} query heads; got occupancy shape {occupancy.shape}"
        )
    return np.repeat(occupancy, group_size, axis=-3)


def attention_recall(attention: Any, occupancy: Any, *, group_size: int = 1) -> dict[str, Any]:
    """Share of each query's full-cache attention that falls on keys in the cache.

    For query ``t`` of head ``h``: ``recall[h, t] = sum_j A[h, t, j] * O[t, j] / sum_j A[h, t, j]``.
    A query that keeps every key it attends to has recall 1.

    Parameters
    ----------
    attention
        Full-cache attention probabilities ``[..., T, T]`` (any leading dimensions, e.g. ``[H, T, T]`` or
        ``[L, H, T, T]``), numpy or torch. Rows need not be normalised (recall divides by each row's sum).
    occupancy
        Boolean occupancy ``[..., T, T]`` (``O[t, j]`` = key j is in the cache when query t attends),
        broadcastable to ``attention``; with ``group_size > 1`` its third-last axis holds the KV heads
        (``[..., H / G, T, T]``) and each is shared by ``group_size`` consecutive query heads.
    group_size
        Query heads per KV head (GQA). 1 means the occupancy broadcasts to ``attention`` as given.

    Returns
    -------
    dict
        ``per_query`` (float64 ``[..., T]``, the attention's leading shape), ``per_head_mean`` and
        ``per_head_worst`` (``[...]``, mean and minimum over queries), ``mean`` and ``worst`` (floats, over
        everything). Queries with no attention mass at all count as fully recalled.

    Raises
    ------
    ValueError
        On shapes that do not match, a non-square last two axes, or NaN/inf in the attention.
    """
    attn = np.asarray(attention.detach().cpu() if hasattr(attention, "detach") else attention)
    occ = np.asarray(occupancy.detach().cpu() if hasattr(occupancy, "detach") else occupancy)
    if attn.ndim < 2 or attn.shape[-1] != attn.shape[-2]:
        raise ValueError(f"attention must be [..., T, T]; got shape {attn.shape}")
    if not np.issubdtype(attn.dtype, np.floating):
        raise ValueError(f"attention must hold floats; got dtype {attn.dtype}")
    if not np.isfinite(attn).all():
        raise ValueError("attention contains NaN or inf values")
    if not isinstance(group_size, (int, np.integer)) or isinstance(group_size, bool) or group_size < 1:
        raise ValueError(f"group_size must be a positive int; got {group_size!r}")
    occ = occ.astype(bool, copy=False)
    if group_size > 1:
        if attn.ndim < 3:
            raise ValueError("group_size > 1 needs attention with a head axis ([..., H, T, T])")
        occ = _expand_groups(occ, int(group_size), attn.shape[-3])
    try:
        np.broadcast_shapes(occ.shape, attn.shape)
    except ValueError:
        raise ValueError(f"occupancy shape {occ.shape} does not broadcast to attention shape {attn.shape}") from None
    if occ.shape[-2:] != attn.shape[-2:]:
        raise ValueError(f"occupancy must be [..., T, T] like the attention; got {occ.shape} vs {attn.shape}")
    total = attn.sum(axis=-1, dtype=np.float64)
    kept = np.where(occ, attn, 0).sum(axis=-1, dtype=np.float64)
    per_query = np.divide(kept, total, out=np.ones_like(total), where=total > 0)
    per_query = np.minimum(per_query, 1.0)
    return {
        "per_query": per_query,
        "per_head_mean": per_query.mean(axis=-1),
        "per_head_worst": per_query.min(axis=-1),
        "mean": float(per_query.mean()),
        "worst": float(per_query.min()),
    }
