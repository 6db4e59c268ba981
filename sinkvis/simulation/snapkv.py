"""SnapKV (Li et al., 2024) as a one-shot *oracle* prompt compression.

SnapKV prefills the whole prompt with a full cache, then keeps, per KV head, the ``budget - window`` prefix tokens
that the last ``window`` queries (the observation window) attend to most (after 1-D pooling along the keys) plus the
window itself.  Here the captured sequence is the prompt:

1. score each prefix key ``j < T - W``: the renormalised attention from the window queries ``T - W .. T - 1``
   (each row renormalised over its causal keys ``0 .. q``), summed over the window and over the group's heads;
2. pool those scores along the keys with a ``kernel``-wide max (default) or average filter (stride 1, padding
   ``kernel // 2``; the average counts the zero padding, like ``torch.nn.functional.avg_pool1d``);
3. the kept set is the window plus the ``budget - W`` best prefix keys (ties: the newer position is kept).

The occupancy is that of a cache which evicts only when over budget, one token per step, always the worst token by
this ranking (the window ranks above everything).  So row ``t`` holds every token while ``t < budget`` and never more
than ``budget``, the final cache is exactly the kept set, and no kept token is ever evicted.  It is an *oracle*: the
queries before the window see a cache chosen with the window's (future) attention, which a real SnapKV cannot do (it
prefills with the full cache).  Read it as "how well does the compressed cache serve this sequence".
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sinkvis.simulation._kernels import check_values, run_static
from sinkvis.simulation._validate import (
    as_attention,
    check_budget,
    check_int,
    group_attention,
    resolve_seq_len,
)

__all__ = ["simulate_snapkv", "snapkv_scores", "default_window"]

Result = np.ndarray | tuple[np.ndarray, np.ndarray]
_POOLINGS = ("max", "avg")


def default_window(budget: int) -> int:
    """Default observation window: ``min(32, budget // 2)``, at least 1."""
    return max(1, min(32, budget // 2))


def _pool(scores: np.ndarray, kernel: int, pooling: str) -> np.ndarray:
    """1-D pooling along the last axis, stride 1, ``kernel // 2`` padding on each side."""
    if kernel == 1 or scores.shape[-1] == 0:
        return scores
    half = kernel // 2
    fill = -np.inf if pooling == "max" else 0.0
    padded = np.pad(scores, [(0, 0)] * (scores.ndim - 1) + [(half, half)], constant_values=fill)
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel, axis=-1)
    return windows.max(axis=-1) if pooling == "max" else windows.sum(axis=-1) / kernel


def snapkv_scores(grouped: np.ndarray, window: int, kernel: int, pooling: str) -> np.ndarray:
    """Pooled SnapKV scores ``[N, T - window]`` of the prefix keys, from grouped attention ``[N, G, T, T]``."""
    T = grouped.shape[-1]
    prefix = T - window
    obs = grouped[:, :, prefix:, :].astype(np.float64)  # [N, G, W, T]
    causal = np.arange(T)[None, :] <= np.arange(prefix, T)[:, None]  # [W, T]
    totals = np.where(causal, obs, 0.0).sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        normed = np.where(totals > 0, obs[..., :prefix] / totals, 0.0)
    scores = normed.sum(axis=(1, 2))  # over the group's heads and the window's queries
    return _pool(scores, kernel, pooling)


def simulate_snapkv(
    seq_len: int | None = None,
    budget: int | None = None,
    attention: Any = None,
    *,
    window: int | None = None,
    kernel: int = 7,
    pooling: str = "max",
    group_size: int = 1,
    return_occupancy: bool = False,
) -> Result:
    """SnapKV: keep the observation window plus the prefix tokens it attends to most (one-shot, an oracle).

    See the module docstring for the exact rule and what the occupancy means.

    Parameters
    ----------
    seq_len : int, optional
        Sequence length T; optional (must agree with ``attention`` when given).
    budget : int
        Most KV entries kept (>= 1).
    attention : array-like [..., T, T]
        Attention weights (queries x keys), any leading dimensions.  Required.
    window : int, optional
        Observation window W, ``1 <= W <= budget``; default ``min(32, budget // 2)`` (at least 1).  Clipped to T.
    kernel : int
        Odd pooling width >= 1 (1 = no pooling); default 7.
    pooling : {"max", "avg"}
        Pooling of the scores along the keys.
    group_size : int
        Consecutive query heads of the last leading dimension sharing one cache; their scores are summed.
    return_occupancy : bool
        Also return the occupancy matrix ``[..., T, T]``.

    Returns
    -------
    numpy.ndarray or tuple of numpy.ndarray
        Keep mask ``[..., T]`` (bool), and the occupancy ``[..., T, T]`` when ``return_occupancy``.
    """
    budget = check_budget(budget)
    if window is None:
        window = default_window(budget)
    else:
        window = check_int(window, "window", minimum=1)
        if window > budget:
            raise ValueError(
                f"window must not exceed budget (the observation window is kept): got window={window}, "
                f"budget={budget}; valid: 1 <= window <= {budget}"
            )
    kernel = check_int(kernel, "kernel", minimum=1)
    if kernel % 2 == 0:
        raise ValueError(f"kernel must be odd (centred pooling), got {kernel}; e.g. 1, 3, 5, 7")
    if pooling not in _POOLINGS:
        raise ValueError(f"pooling must be one of {_POOLINGS}, got {pooling!r}")
    if attention is None:
        raise ValueError(
            "policy 'snapkv' needs captured attention weights [..., T, T]: pass attention= "
            '(capture with SinkVis(..., mode="full"))'
        )
    att = as_attention(attention)
    T = resolve_seq_len(seq_len, att)
    grouped, lead = group_attention(att, group_size)
    check_values(grouped, lead, grouped.shape[1])
    window = min(window, T)
    priority = np.full((grouped.shape[0], T), np.inf)
    if budget < T:
        priority[:, : T - window] = snapkv_scores(grouped, window, kernel, pooling)
    keep, occ = run_static(priority, lead, budget, return_occupancy=return_occupancy)
    return (keep, occ) if return_occupancy else keep
