"""Policies that ignore attention: ``full``, ``sliding_window``, ``streaming_llm``, ``random``.

The first three have closed forms (row ``t`` of the occupancy is a fixed set of positions), computed by broadcasting;
``random`` is a seeded step loop vectorised over caches.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sinkvis.simulation._validate import check_budget, check_int, check_seq_len, check_sink_count

__all__ = ["simulate_full", "simulate_sliding_window", "simulate_streaming_llm", "simulate_random"]

Result = np.ndarray | tuple[np.ndarray, np.ndarray]


def _closed_form(T: int, budget: int, sink_count: int, return_occupancy: bool) -> Result:
    """Keep ``[0, sink_count)`` and the last ``budget - sink_count`` positions (everything while ``t < budget``)."""
    window = budget - sink_count
    j = np.arange(T)
    keep = (j < sink_count) | (j > T - 1 - window)
    if not return_occupancy:
        return keep
    t = j[:, None]
    occ = (j[None, :] <= t) & ((j[None, :] < sink_count) | (j[None, :] > t - window))
    return keep, occ


def simulate_full(seq_len: int, budget: int | None = None, *, return_occupancy: bool = False) -> Result:
    """Keep every token (the full-cache baseline); ``budget`` is accepted and ignored.

    Parameters
    ----------
    seq_len : int
        Sequence length T (>= 1).
    budget : int, optional
        Ignored (checked to be an integer >= 1 when given, so a sweep can pass it).
    return_occupancy : bool
        Also return the occupancy ``[T, T]`` (the causal lower triangle).

    Returns
    -------
    numpy.ndarray or tuple of numpy.ndarray
        Keep mask ``[T]`` (all True), and the occupancy ``[T, T]`` when ``return_occupancy``.
    """
    T = check_seq_len(seq_len)
    if budget is not None:
        check_budget(budget)
    keep = np.ones(T, dtype=bool)
    return (keep, np.tri(T, dtype=bool)) if return_occupancy else keep


def simulate_sliding_window(seq_len: int, budget: int, *, return_occupancy: bool = False) -> Result:
    """Keep the last ``budget`` tokens.

    Parameters
    ----------
    seq_len : int
        Sequence length T (>= 1).
    budget : int
        Most KV entries kept (>= 1).
    return_occupancy : bool
        Also return the occupancy ``[T, T]``: row ``t`` holds ``max(0, t - budget + 1) .. t``.

    Returns
    -------
    numpy.ndarray or tuple of numpy.ndarray
        Keep mask ``[T]``, and the occupancy ``[T, T]`` when ``return_occupancy``.
    """
    T = check_seq_len(seq_len)
    budget = check_budget(budget)
    return _closed_form(T, budget, 0, return_occupancy)


def simulate_streaming_llm(
    seq_len: int, budget: int, sink_count: int = 4, *, return_occupancy: bool = False
) -> Result:
    """StreamingLLM: keep the first ``sink_count`` tokens (attention sinks) and the last ``budget - sink_count``.

    Parameters
    ----------
    seq_len : int
        Sequence length T (>= 1).
    budget : int
        Most KV entries kept (>= 1).
    sink_count : int
        Number of initial tokens always kept, ``0 <= sink_count < budget`` (the current token needs a slot).
    return_occupancy : bool
        Also return the occupancy ``[T, T]``.

    Returns
    -------
    numpy.ndarray or tuple of numpy.ndarray
        Keep mask ``[T]``, and the occupancy ``[T, T]`` when ``return_occupancy``.
    """
    T = check_seq_len(seq_len)
    budget = check_budget(budget)
    sink_count = check_sink_count(sink_count, budget)
    return _closed_form(T, budget, sink_count, return_occupancy)


def simulate_random(
    seq_len: int,
    budget: int,
    *,
    seed: int = 0,
    shape: tuple[int, ...] = (),
    return_occupancy: bool = False,
) -> Result:
    """Random eviction (a baseline): each step over budget evicts a uniformly random cached token other than ``t``.

    Deterministic for a given ``seed``, ``shape``, ``seq_len`` and ``budget``: the draws are
    ``numpy.random.default_rng(seed).integers(0, budget, size=(T - budget, *shape))``, draw ``k`` picking slot
    ``k`` among the ``budget`` cached tokens other than the current one (slot order is an implementation detail).

    Parameters
    ----------
    seq_len : int
        Sequence length T (>= 1).
    budget : int
        Most KV entries kept (>= 1).
    seed : int
        Seed of the random generator (default 0).
    shape : tuple of int
        Leading dimensions: one independent cache per entry (e.g. ``(L, H)``); results get these leading dims.
    return_occupancy : bool
        Also return the occupancy ``[*shape, T, T]``.

    Returns
    -------
    numpy.ndarray or tuple of numpy.ndarray
        Keep mask ``[*shape, T]``, and the occupancy ``[*shape, T, T]`` when ``return_occupancy``.
    """
    T = check_seq_len(seq_len)
    budget = check_budget(budget)
    seed = check_int(seed, "seed", minimum=0)
    shape = _check_shape(shape)
    N = int(np.prod(shape, dtype=np.int64))
    occ = np.zeros((N, T, T), dtype=bool) if return_occupancy else None
    if budget >= T:
        keep = np.ones((N, T), dtype=bool)
        if occ is not None:
            occ[:] = np.tri(T, dtype=bool)
    else:
        draws = np.random.default_rng(seed).integers(0, budget, size=(T - budget, N))
        slots = np.zeros((N, budget), dtype=np.int64)
        slots[:] = np.arange(budget)
        rows = np.arange(N)
        if occ is not None:
            occ[:, :budget, :budget] = np.tri(budget, dtype=bool)
        for step, t in enumerate(range(budget, T)):
            slots[rows, draws[step]] = t  # the evicted token's slot now holds token t
            if occ is not None:
                occ[rows[:, None], t, slots] = True
        keep = np.zeros((N, T), dtype=bool)
        keep[rows[:, None], slots] = True
    keep = keep.reshape(*shape, T)
    return (keep, occ.reshape(*shape, T, T)) if occ is not None else keep


def _check_shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        dims = tuple(check_int(d, "shape entries", minimum=1) for d in shape)
    except TypeError as exc:
        raise TypeError(f"shape must be a tuple of positive integers, got {shape!r}") from exc
    return dims
