"""User policies (see :mod:`sinkvis.simulation.registry` for the protocol): call them, check what they return."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from sinkvis.simulation._kernels import check_values, run_static
from sinkvis.simulation._validate import group_attention

if TYPE_CHECKING:
    from sinkvis.simulation.registry import Policy

__all__ = ["run_user"]


def run_user(
    policy: Policy,
    T: int,
    budget: int,
    sink_count: Any,
    att: np.ndarray | None,
    group_size: int,
    lead: tuple[int, ...],
    return_occupancy: bool,
    params: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray | None]:
    """Call a user policy with the registry protocol; return ``(keep [*lead, T], occupancy or None)``.

    Attention values are checked first (NaN, inf, negative) for attention policies; what the function returns is
    checked by :func:`_check_occupancy` or :func:`_check_scores`, and eviction scores are run through the step loop.
    """
    if att is not None and policy.uses_attention:
        check_values(group_attention(att, group_size)[0], lead, group_size)
    out = policy.func(
        seq_len=T,
        budget=budget,
        sink_count=sink_count,
        attention=att if policy.uses_attention else None,
        group_size=group_size,
        **params,
    )
    if policy.returns == "scores":
        scores = _check_scores(policy.name, out, lead, T)
        N = int(np.prod(lead, dtype=np.int64))
        return run_static(scores.reshape(N, T), lead, budget, return_occupancy=return_occupancy)
    occ = _check_occupancy(policy.name, out, lead, T, budget)
    keep = np.ascontiguousarray(occ[..., -1, :])
    return keep, (occ if return_occupancy else None)


def _index(where: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in where)


def _as_bool(name: str, arr: np.ndarray, what: str) -> np.ndarray:
    if arr.dtype == bool:
        return arr
    if (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)) and np.isin(
        arr, (0, 1)
    ).all():
        return arr.astype(bool)
    raise TypeError(f"policy '{name}' must return a bool {what}, got dtype {arr.dtype} with values other than 0/1")


def _check_occupancy(name: str, out: Any, lead: tuple[int, ...], T: int, budget: int) -> np.ndarray:
    """Validate a user policy's occupancy ``[*lead, T, T]`` (or ``[T, T]``); return it as bool ``[*lead, T, T]``."""
    expected = (*lead, T, T)
    if out is None:
        raise TypeError(f"policy '{name}' returned None; it must return a bool occupancy array of shape {expected}")
    arr = np.asarray(out)
    if arr.shape not in (expected, (T, T)):
        raise ValueError(
            f"policy '{name}' returned an array of shape {arr.shape}; expected occupancy of shape {expected}"
            + (f" or ({T}, {T})" if lead else "")
        )
    arr = _as_bool(name, arr, "occupancy")
    diagonal = np.diagonal(arr, axis1=-2, axis2=-1)
    if not diagonal.all():
        where = np.argwhere(~diagonal)[0]
        raise ValueError(
            f"policy '{name}' returned an occupancy with occupancy[..., t, t] False at index {_index(where)}: "
            f"the current token is always in the cache"
        )
    future = np.triu(np.ones((T, T), dtype=bool), 1)
    if (arr & future).any():
        where = np.argwhere(arr & future)[0]
        raise ValueError(
            f"policy '{name}' returned a non-causal occupancy: True at index {_index(where)} (a query cannot see a "
            f"later key; occupancy[..., t, j] must be False for j > t)"
        )
    counts = arr.sum(axis=-1)
    if (counts > budget).any():
        where = np.argwhere(counts > budget)[0]
        raise ValueError(
            f"policy '{name}' returned an occupancy row with {int(counts[tuple(where)])} keys at index "
            f"{_index(where)}, more than budget={budget}"
        )
    if arr.shape != expected:
        arr = np.broadcast_to(arr, expected)
    return arr


def _check_scores(name: str, out: Any, lead: tuple[int, ...], T: int) -> np.ndarray:
    """Validate a user policy's eviction scores ``[*lead, T]`` (or ``[T]``); return float64 ``[*lead, T]``."""
    expected = (*lead, T)
    if out is None:
        raise TypeError(f"policy '{name}' returned None; it must return eviction scores of shape {expected}")
    arr = np.asarray(out)
    if arr.shape not in (expected, (T,)):
        raise ValueError(
            f"policy '{name}' returned an array of shape {arr.shape}; expected eviction scores of shape {expected}"
            + (f" or ({T},)" if lead else "")
        )
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise TypeError(f"policy '{name}' must return numeric eviction scores, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if np.isnan(arr).any():
        raise ValueError(f"policy '{name}' returned NaN eviction scores (use +inf to protect a token)")
    return np.broadcast_to(arr, expected)
