"""Python side of the compiled step loops: allocate outputs, call the kernel, turn error records into exceptions.

numba is imported lazily (on the first simulation that needs it), so ``import sinkvis`` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np

_MODES = {"h2o": 0, "tova": 1, "lru": 2}
# below this much work (attention elements read, or steps x budget) the loops run on one thread: starting the
# thread pool costs more than it saves (and much more on a loaded machine)
PARALLEL_MIN_WORK = 1 << 23


def _loops() -> ModuleType:
    from sinkvis.simulation import _steploop

    return _steploop


def _pick(name: str, caches: int, work: int) -> Callable[..., None]:
    """The parallel kernel ``name`` for big inputs with several caches, else its serial twin."""
    loops = _loops()
    if caches >= 2 and work >= PARALLEL_MIN_WORK and loops.nb.get_num_threads() > 1:
        return getattr(loops, name)
    return getattr(loops, name + "_serial")


def _raise_value_error(att: np.ndarray, err: np.ndarray, lead: tuple[int, ...], group_size: int) -> None:
    """Raise a ValueError naming the first NaN / inf / negative value found by a kernel."""
    bad = np.flatnonzero(err[:, 0])
    if bad.size == 0:
        return
    n = int(bad[0])
    kind, g, t, j = (int(v) for v in err[n])
    value = float(att[n, g, t, j])
    head_index = np.unravel_index(n, lead) if lead else ()
    if lead:
        index = (*head_index[:-1], head_index[-1] * group_size + g, t, j)
    else:
        index = (t, j)
    what = "NaN or inf" if kind == 1 else "negative values"
    raise ValueError(
        f"attention contains {what} (first at index {tuple(int(i) for i in index)}: {value!r}); "
        f"attention weights must be finite and >= 0 (fully padded rows may be all zeros, not NaN)"
    )


def check_values(att: np.ndarray, lead: tuple[int, ...], group_size: int) -> None:
    """Raise ValueError if ``att [N, G, T, T]`` holds NaN, inf or negative values (one compiled pass)."""
    err = np.zeros((att.shape[0], 4), dtype=np.int64)
    _pick("check_values", att.shape[0], att.size)(att, err)
    _raise_value_error(att, err, lead, group_size)


def run_scored(
    att: np.ndarray,
    lead: tuple[int, ...],
    group_size: int,
    budget: int,
    *,
    mode: str,
    protect: int = 1,
    tau: float = -1.0,
    return_occupancy: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Run an attention-scored policy (``mode`` in h2o, tova, lru) over ``att [N, G, T, T]``.

    Returns ``keep [*lead, T]`` and, when requested, ``occupancy [*lead, T, T]`` (else None).
    """
    N, _, T, _ = att.shape
    if budget >= T:
        check_values(att, lead, group_size)
        keep = np.ones((*lead, T), dtype=bool)
        occ = np.broadcast_to(np.tri(T, dtype=bool), (*lead, T, T)).copy() if return_occupancy else None
        return keep, occ
    loops = _loops()
    keep = np.zeros((N, T), dtype=bool)
    occ = np.zeros((N, T, T), dtype=bool) if return_occupancy else loops.dummy_occupancy()
    err = np.zeros((N, 4), dtype=np.int64)
    kernel = _pick("scored_loop", N, att.size)
    kernel(att, budget, max(int(protect), 1), _MODES[mode], float(tau), return_occupancy, occ, keep, err)
    _raise_value_error(att, err, lead, group_size)
    keep = keep.reshape(*lead, T)
    return keep, (occ.reshape(*lead, T, T) if return_occupancy else None)


def run_static(
    priority: np.ndarray, lead: tuple[int, ...], budget: int, *, return_occupancy: bool = False
) -> tuple[np.ndarray, np.ndarray | None]:
    """Step loop with fixed eviction scores ``priority [N, T]`` (lowest evicted first, ties to the older position)."""
    N, T = priority.shape
    if budget >= T:
        keep = np.ones((*lead, T), dtype=bool)
        occ = np.broadcast_to(np.tri(T, dtype=bool), (*lead, T, T)).copy() if return_occupancy else None
        return keep, occ
    loops = _loops()
    keep = np.zeros((N, T), dtype=bool)
    occ = np.zeros((N, T, T), dtype=bool) if return_occupancy else loops.dummy_occupancy()
    kernel = _pick("static_loop", N, N * T * budget)
    kernel(np.ascontiguousarray(priority, dtype=np.float64), budget, return_occupancy, occ, keep)
    keep = keep.reshape(*lead, T)
    return keep, (occ.reshape(*lead, T, T) if return_occupancy else None)
