"""Argument checks shared by every simulation entry point (SPEC §12).

Each check raises a ``TypeError`` (wrong kind of value) or ``ValueError`` (right kind, bad value) whose message says
what was wrong and what is valid.  Checks of the attention *values* (NaN, inf, negative) are not here: they are fused
into the compiled step loops (see ``_steploop.py``) so the array is read once.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__ = [
    "check_int",
    "check_budget",
    "check_seq_len",
    "check_sink_count",
    "check_group_size",
    "as_attention",
    "resolve_seq_len",
    "group_attention",
]


def check_int(value: Any, name: str, *, minimum: int | None = None) -> int:
    """Return ``value`` as a Python int, or raise if it is not an integer (bools are refused) or below ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_budget(budget: Any) -> int:
    """Validate a KV-cache budget: an integer >= 1 (the current token always needs a slot)."""
    if budget is None:
        raise TypeError("budget is required: the number of KV entries the cache may hold (an integer >= 1)")
    return check_int(budget, "budget", minimum=1)


def check_seq_len(seq_len: Any) -> int:
    """Validate a sequence length: an integer >= 1."""
    return check_int(seq_len, "seq_len", minimum=1)


def check_sink_count(sink_count: Any, budget: int) -> int:
    """Validate a sink count for a sink-using policy: ``0 <= sink_count < budget``."""
    sink_count = check_int(sink_count, "sink_count", minimum=0)
    if sink_count >= budget:
        raise ValueError(
            f"sink_count must be smaller than budget (the current token needs a slot): "
            f"got sink_count={sink_count}, budget={budget}; valid: 0 <= sink_count <= {budget - 1}"
        )
    return sink_count


def check_group_size(group_size: Any) -> int:
    """Validate a KV-head group size: an integer >= 1."""
    return check_int(group_size, "group_size", minimum=1)


def as_attention(attention: Any) -> np.ndarray:
    """Return ``attention`` as a C-contiguous float32/float64 numpy array ``[..., T, T]``; check its shape and dtype.

    Float16 and integer input is converted to float32; float64 stays float64.  Torch CPU tensors and nested lists are
    accepted (anything ``np.asarray`` understands).  Values are checked later, inside the step loops.
    """
    try:
        arr = np.asarray(attention)
    except Exception as exc:  # e.g. a CUDA tensor
        raise TypeError(
            f"attention must be array-like [..., T, T] (numpy array, CPU tensor, nested lists); "
            f"could not convert {type(attention).__name__}: {exc}"
        ) from exc
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.floating)
        or np.issubdtype(arr.dtype, np.integer)
        or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise TypeError(f"attention must hold real numbers (float16/32/64 weights), got dtype {arr.dtype}")
    if arr.ndim < 2:
        raise ValueError(
            f"attention must have shape [..., T, T] (e.g. [T, T], [H, T, T], [L, H, T, T]); got shape {arr.shape}"
        )
    if arr.shape[-1] != arr.shape[-2]:
        raise ValueError(
            f"attention must be square in its last two dimensions (queries x keys), got shape {arr.shape}"
        )
    if arr.shape[-1] == 0 or arr.size == 0:
        raise ValueError(f"attention is empty (shape {arr.shape}); need at least one token")
    if arr.dtype != np.float64:
        arr = arr.astype(np.float32, copy=False)
    return np.ascontiguousarray(arr)


def resolve_seq_len(seq_len: Any, attention: np.ndarray | None) -> int:
    """Return T from ``seq_len`` and/or ``attention``; they must agree when both are given."""
    if attention is None:
        if seq_len is None:
            raise TypeError("give seq_len (an integer >= 1) or attention ([..., T, T])")
        return check_seq_len(seq_len)
    T = attention.shape[-1]
    if seq_len is not None:
        seq_len = check_seq_len(seq_len)
        if seq_len != T:
            raise ValueError(
                f"seq_len={seq_len} does not match attention of shape {attention.shape} (T={T}); "
                f"omit seq_len or pass seq_len={T}"
            )
    return T


def group_attention(attention: np.ndarray, group_size: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """Reshape ``[..., H, T, T]`` to ``[N, G, T, T]`` (N caches of G query heads) without copying.

    Returns the reshaped array and the leading shape of the result masks (``[..., H // G]``).
    """
    group_size = check_group_size(group_size)
    lead = attention.shape[:-2]
    T = attention.shape[-1]
    if group_size > 1:
        if not lead:
            raise ValueError(
                f"group_size={group_size} needs a head dimension: attention [..., H, T, T], got shape "
                f"{attention.shape}"
            )
        H = lead[-1]
        if H % group_size:
            divisors = [g for g in range(1, H + 1) if H % g == 0]
            raise ValueError(
                f"the number of heads ({H}) is not divisible by group_size={group_size}; "
                f"valid group sizes: {divisors}"
            )
        out_lead = (*lead[:-1], H // group_size)
    else:
        out_lead = lead
    N = math.prod(out_lead)
    return attention.reshape(N, group_size, T, T), out_lead
