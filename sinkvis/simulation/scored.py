"""Attention-driven policies simulated step by step: ``lru``, ``h2o``, ``tova``.

All three follow SPEC §6's order at step ``t``: insert token ``t``; if the cache holds more than ``budget`` tokens,
evict one (never token ``t``); then query ``t`` attends over the cache, its weights renormalised over the cached keys.
Each cache (one per head, or per group of ``group_size`` consecutive query heads sharing a KV head) is simulated
independently, all of them in one compiled loop.  Ties in the eviction score go to the older position.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from sinkvis.simulation._kernels import run_scored
from sinkvis.simulation._validate import (
    as_attention,
    check_budget,
    check_int,
    group_attention,
    resolve_seq_len,
)
from sinkvis.simulation.fixed import simulate_sliding_window

__all__ = ["simulate_lru", "simulate_h2o", "simulate_tova"]

Result = np.ndarray | tuple[np.ndarray, np.ndarray]


def _needs_attention(policy: str, attention: Any) -> None:
    if attention is None:
        raise ValueError(
            f"policy '{policy}' needs captured attention weights [..., T, T]: pass attention= "
            f'(capture with SinkVis(..., mode="full"))'
        )


def _pack(keep: np.ndarray, occ: np.ndarray | None, return_occupancy: bool) -> Result:
    return (keep, occ) if return_occupancy else keep


def simulate_lru(
    seq_len: int | None = None,
    budget: int | None = None,
    attention: Any = None,
    *,
    threshold: float | None = None,
    group_size: int = 1,
    return_occupancy: bool = False,
) -> Result:
    """Least-recently-used eviction: evict the token whose last *use* is oldest.

    Token ``j`` is used at step ``t`` when query ``t`` gives it a renormalised weight ``>= threshold`` (insertion
    counts as a use).  With a KV-head group (``group_size > 1``) the weight compared is the *mean* over the group's
    query heads of their renormalised weights.  Ties (same last use) go to the older position.  Without
    ``attention`` nothing is ever used after insertion, so LRU equals :func:`simulate_sliding_window`.

    Parameters
    ----------
    seq_len : int, optional
        Sequence length T; optional when ``attention`` is given (then it must equal its last dimension).
    budget : int
        Most KV entries kept (>= 1).
    attention : array-like [..., T, T], optional
        Attention weights (queries x keys), any leading dimensions; rows need not sum to 1.
    threshold : float, optional
        ``tau`` in [0, 1]; default ``1 / (number of tokens in the cache)``, i.e. above-uniform attention.
        Weights within a relative 1e-9 of ``tau`` count as used (so exactly uniform rows do despite rounding).
    group_size : int
        Consecutive query heads of the last leading dimension sharing one cache.
    return_occupancy : bool
        Also return the occupancy matrix ``[..., T, T]``.

    Returns
    -------
    numpy.ndarray or tuple of numpy.ndarray
        Keep mask ``[..., T]`` (bool), and the occupancy ``[..., T, T]`` when ``return_occupancy``.
    """
    budget = check_budget(budget)
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
            raise TypeError(f"threshold must be a number in [0, 1] or None, got {threshold!r}")
        if not (0.0 <= float(threshold) <= 1.0) or math.isnan(float(threshold)):
            raise ValueError(f"threshold must be in [0, 1] (or None for 1 / cache size), got {threshold}")
    if attention is None:
        T = resolve_seq_len(seq_len, None)
        check_int(group_size, "group_size", minimum=1)
        return simulate_sliding_window(T, budget, return_occupancy=return_occupancy)
    att = as_attention(attention)
    resolve_seq_len(seq_len, att)
    grouped, lead = group_attention(att, group_size)
    tau = -1.0 if threshold is None else float(threshold)
    keep, occ = run_scored(
        grouped, lead, grouped.shape[1], budget, mode="lru", tau=tau, return_occupancy=return_occupancy
    )
    return _pack(keep, occ, return_occupancy)


def default_recent_window(budget: int) -> int:
    """H2O's default recent window: ``budget // 2``, at least 1 and below ``budget`` (0 when ``budget == 1``)."""
    return min(max(budget // 2, 1), budget - 1)


def simulate_h2o(
    seq_len: int | None = None,
    budget: int | None = None,
    attention: Any = None,
    *,
    recent_window: int | None = None,
    group_size: int = 1,
    return_occupancy: bool = False,
) -> Result:
    """Heavy-Hitter Oracle (H2O): keep the ``recent_window`` most recent tokens plus the heaviest hitters.

    Each cached token's score is the sum of the renormalised attention it received from the queries so far (summed
    over the group's query heads); an evicted token's score is gone.  When over budget, evict the lowest-scoring
    token among those outside the ``recent_window`` most recent positions; ties go to the older position.

    Parameters
    ----------
    seq_len : int, optional
        Sequence length T; optional (must agree with ``attention`` when given).
    budget : int
        Most KV entries kept (>= 1).
    attention : array-like [..., T, T]
        Attention weights (queries x keys), any leading dimensions.  Required.
    recent_window : int, optional
        R, with ``0 <= R < budget``; default ``budget // 2`` (at least 1; 0 when ``budget == 1``).  The current token
        is always protected, so R = 0 and R = 1 behave alike.
    group_size : int
        Consecutive query heads of the last leading dimension sharing one cache; their weights are summed.
    return_occupancy : bool
        Also return the occupancy matrix ``[..., T, T]``.

    Returns
    -------
    numpy.ndarray or tuple of numpy.ndarray
        Keep mask ``[..., T]`` (bool), and the occupancy ``[..., T, T]`` when ``return_occupancy``.
    """
    budget = check_budget(budget)
    if recent_window is None:
        recent_window = default_recent_window(budget)
    else:
        recent_window = check_int(recent_window, "recent_window", minimum=0)
        if recent_window >= budget:
            raise ValueError(
                f"recent_window must be smaller than budget (room is needed for heavy hitters): got "
                f"recent_window={recent_window}, budget={budget}; valid: 0 <= recent_window <= {budget - 1}"
            )
    _needs_attention("h2o", attention)
    att = as_attention(attention)
    resolve_seq_len(seq_len, att)
    grouped, lead = group_attention(att, group_size)
    keep, occ = run_scored(
        grouped,
        lead,
        grouped.shape[1],
        budget,
        mode="h2o",
        protect=recent_window,
        return_occupancy=return_occupancy,
    )
    return _pack(keep, occ, return_occupancy)


def simulate_tova(
    seq_len: int | None = None,
    budget: int | None = None,
    attention: Any = None,
    *,
    group_size: int = 1,
    return_occupancy: bool = False,
) -> Result:
    """Token Omission Via Attention (TOVA): evict the token the most recent query attended to least.

    In SPEC §6's insert-evict-attend order the eviction at step ``t`` happens before query ``t`` attends, so "the
    most recent query" is query ``t - 1``: the evicted token is the one with the lowest renormalised weight from query
    ``t - 1`` over its cache (every token cached at step ``t`` except ``t`` itself was in that cache).  With a
    KV-head group the weight is the sum (ranked like the mean) of the group's renormalised weights.  Ties go to the
    older position.  (The TOVA paper attends first and may drop the newest token; here the current token always
    stays, as for every policy.)

    Parameters
    ----------
    seq_len : int, optional
        Sequence length T; optional (must agree with ``attention`` when given).
    budget : int
        Most KV entries kept (>= 1).
    attention : array-like [..., T, T]
        Attention weights (queries x keys), any leading dimensions.  Required.
    group_size : int
        Consecutive query heads of the last leading dimension sharing one cache.
    return_occupancy : bool
        Also return the occupancy matrix ``[..., T, T]``.

    Returns
    -------
    numpy.ndarray or tuple of numpy.ndarray
        Keep mask ``[..., T]`` (bool), and the occupancy ``[..., T, T]`` when ``return_occupancy``.
    """
    budget = check_budget(budget)
    _needs_attention("tova", attention)
    att = as_attention(attention)
    resolve_seq_len(seq_len, att)
    grouped, lead = group_attention(att, group_size)
    keep, occ = run_scored(
        grouped, lead, grouped.shape[1], budget, mode="tova", return_occupancy=return_occupancy
    )
    return _pack(keep, occ, return_occupancy)
