"""Binary array payloads and max-pooling for the widgets.

Arrays travel to the front end as ``{"view": memoryview, "dtype": str, "shape": list[int]}``:
ipywidgets lifts the memoryview out of the JSON message into a binary buffer, and the front end
(``js/src/codec.js``) decodes it with the dtype and shape. Never JSON lists of floats.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

#: The most bytes one heatmap update (matrix + overlay) may carry.
MAX_HEATMAP_BYTES = 1 << 20

_DTYPES = {"float32": "<f4", "float64": "<f8", "uint8": "|u1", "int32": "<i4", "uint32": "<u4", "int8": "|i1"}


def array_payload(array: Any, dtype: str = "float32") -> dict[str, Any] | None:
    """Pack an array as a binary payload (C-contiguous, little-endian ``dtype``).

    Parameters
    ----------
    array
        Anything numpy can convert; ``None`` gives ``None``.
    dtype
        One of ``float32``, ``float64``, ``uint8``, ``int8``, ``int32``, ``uint32``.

    Returns
    -------
    dict or None
        ``{"view": memoryview, "dtype": dtype, "shape": [...]}``.
    """
    if array is None:
        return None
    if dtype not in _DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}; use one of {sorted(_DTYPES)}")
    arr = np.ascontiguousarray(np.asarray(array), dtype=np.dtype(_DTYPES[dtype]))
    view = memoryview(arr.reshape(-1).view(np.uint8))
    return {"view": view, "dtype": dtype, "shape": [int(s) for s in arr.shape]}


def payload_to_array(payload: dict[str, Any] | None) -> np.ndarray | None:
    """Decode a payload made by :func:`array_payload` (or sent by the front end) back to numpy."""
    if payload is None:
        return None
    dtype = payload["dtype"]
    if dtype not in _DTYPES:
        raise ValueError(f"unsupported dtype {dtype!r}")
    view = payload["view"]
    arr = np.frombuffer(view if isinstance(view, (bytes, bytearray)) else memoryview(view), dtype=_DTYPES[dtype])
    return arr.reshape([int(s) for s in payload["shape"]])


def payload_bytes(payload: dict[str, Any] | None) -> int:
    """Bytes of the binary part of a payload."""
    return 0 if payload is None else memoryview(payload["view"]).nbytes


def pool_factor(length: int, max_cells: int) -> int:
    """Smallest integer factor that brings ``length`` cells down to at most ``max_cells``."""
    return max(1, math.ceil(int(length) / max(1, int(max_cells))))


def _pad_to(array: np.ndarray, rows: int, cols: int, fill: Any = 0) -> np.ndarray:
    if array.shape == (rows, cols):
        return array
    out = np.full((rows, cols), fill, dtype=array.dtype)
    out[: array.shape[0], : array.shape[1]] = array
    return out


def max_pool_2d(matrix: np.ndarray, factor: int) -> np.ndarray:
    """Max over ``factor x factor`` blocks (ragged edge blocks included), so single sinks stay visible.

    NaN values are treated as 0.
    """
    m = np.asarray(matrix, dtype=np.float32)
    if factor <= 1:
        return np.nan_to_num(m, nan=0.0, posinf=0.0, neginf=0.0)
    r = math.ceil(m.shape[0] / factor)
    c = math.ceil(m.shape[1] / factor)
    padded = _pad_to(np.nan_to_num(m, nan=0.0, posinf=0.0, neginf=0.0), r * factor, c * factor)
    return padded.reshape(r, factor, c, factor).max(axis=(1, 3))


@functools.lru_cache(maxsize=8)
def _causal_counts(nq: int, nk: int, q0: int, k0: int, factor: int) -> np.ndarray:
    """Causal cells (key <= query) per ``factor x factor`` block of a window."""
    r, c = math.ceil(nq / factor), math.ceil(nk / factor)
    causal = np.arange(k0, k0 + nk)[None, :] <= np.arange(q0, q0 + nq)[:, None]
    counts = _pad_to(causal, r * factor, c * factor, False).reshape(r, factor, c, factor).sum(axis=(1, 3))
    counts.flags.writeable = False
    return counts


def evicted_share(occupancy: np.ndarray, factor: int, q0: int = 0, k0: int = 0) -> np.ndarray:
    """Per ``factor x factor`` block, the share of causal cells (key <= query) that were evicted.

    Parameters
    ----------
    occupancy
        Boolean ``[nq, nk]`` window of an occupancy matrix (True = key in the cache).
    factor
        Block size.
    q0, k0
        Token positions of the window's first query and key (to know which cells are causal).

    Returns
    -------
    np.ndarray
        ``uint8`` blocks, 0 = nothing evicted, 255 = all evicted; any eviction gives at least 1.
    """
    occ = np.asarray(occupancy, dtype=bool)
    nq, nk = occ.shape
    if factor <= 1:
        causal = np.arange(k0, k0 + nk)[None, :] <= np.arange(q0, q0 + nq)[:, None]
        return (causal & ~occ).astype(np.uint8) * np.uint8(255)
    r, c = math.ceil(nq / factor), math.ceil(nk / factor)
    causal_counts = _causal_counts(nq, nk, q0, k0, factor)
    padded = np.zeros((r * factor, c * factor), dtype=np.uint8)
    padded[:nq, :nk] = occ
    kept_counts = padded.reshape(r, factor, c, factor).sum(axis=(1, 3), dtype=np.int32)
    # an occupancy holds only inserted keys (key <= query), so the kept cells are causal ones
    evicted = np.maximum(causal_counts - kept_counts, 0)
    share = np.divide(evicted, causal_counts, out=np.zeros(evicted.shape), where=causal_counts > 0)
    return np.ceil(share * 255).astype(np.uint8)


def max_pool_1d(values: np.ndarray, factor: int) -> np.ndarray:
    """Max over consecutive groups of ``factor`` values (ragged last group included)."""
    v = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0)
    if factor <= 1:
        return v
    n = math.ceil(v.shape[0] / factor)
    padded = np.zeros(n * factor, dtype=np.float32)
    padded[: v.shape[0]] = v
    return padded.reshape(n, factor).max(axis=1)
