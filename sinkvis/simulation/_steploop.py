"""Compiled (numba) step loops: the sequential part of every simulation, run over all caches at once.

A *cache* is one KV head of one layer: the attention of its ``G`` query heads, ``att[n, :, :, :]`` of an array
``[N, G, T, T]``.  Each cache keeps its own slot arrays (``pos``: the position held in a slot, ``score``: that
token's eviction score), ``budget + 1`` slots long.  Step ``t``: insert token ``t``, evict one token if over budget,
record the occupancy row, then for each head of the group check row ``t`` (NaN, inf, negative -> error record, stop)
and gather query ``t``'s weights over the cache, and update the scores.

Eviction rule shared by all modes: among the cached tokens at positions ``<= t - protect`` (``protect >= 1``: the
current token is never evicted), evict the one with the lowest score; ties go to the older (smaller) position.

Modes (``mode`` argument):

``H2O``  score = sum over past queries and over the group's heads of the renormalised weight; starts at 0.
``TOVA`` score = sum over the group's heads of the renormalised weight from the most recent query (replaced).
``LRU``  score = step of the last use; insertion is a use; the token is used at step ``t`` when the mean over the
         group's heads of its renormalised weight is ``>= tau`` (``tau < 0`` means ``1 / cache size``), compared with
         a relative tolerance ``RTOL`` so an exactly uniform row counts as used despite rounding.

Renormalisation: weight = ``a * (1 / s)`` with ``s`` the float64 sum of the row over the cached keys (taken in four
interleaved partial sums, see ``_gather``); a row whose cached sum is 0 (padding) gives weight 0 to every key.

Layout and speed: slots stay sorted by position (an eviction shifts the later slots down by one), so the protected
tokens are the last slots and the tie rule is "first slot with the lowest score"; the victim of step ``t + 1`` is
found right after step ``t``'s score update.  The full row ``t`` is checked just before its gather (a streaming
pass that also brings the row into L1), so the whole array is read about once.  Every loop has a threaded twin
(``prange`` over caches) and a serial one (``*_serial``); ``_kernels.py`` picks the serial one for small inputs,
where starting threads costs more than it saves.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

H2O = 0
TOVA = 1
LRU = 2
RTOL = 1e-9

# error kinds written into ``err[n, 0]``
ERR_NONE = 0
ERR_NONFINITE = 1
ERR_NEGATIVE = 2


@nb.njit(cache=True, inline="always")
def _row_ok(row):
    ok = True
    for j in range(row.shape[0]):
        x = row[j]
        ok = ok & (x >= 0.0) & (x < math.inf)
    return ok


@nb.njit(cache=True, inline="always")
def _gather(row, pos, size, out):
    """``out[s] = row[pos[s]]`` for the cached slots; return their float64 sum (four partial sums, in order
    ``((s0 + s4 + ...) + (s1 + s5 + ...)) + ((s2 + ...) + (s3 + ...))``, to break the addition latency chain)."""
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    s = 0
    while s + 4 <= size:
        x0 = np.float64(row[pos[s]])
        x1 = np.float64(row[pos[s + 1]])
        x2 = np.float64(row[pos[s + 2]])
        x3 = np.float64(row[pos[s + 3]])
        out[s] = x0
        out[s + 1] = x1
        out[s + 2] = x2
        out[s + 3] = x3
        a0 += x0
        a1 += x1
        a2 += x2
        a3 += x3
        s += 4
    while s < size:
        x = np.float64(row[pos[s]])
        out[s] = x
        if s % 4 == 0:
            a0 += x
        elif s % 4 == 1:
            a1 += x
        else:
            a2 += x
        s += 1
    return (a0 + a1) + (a2 + a3)


@nb.njit(cache=True, inline="always")
def _argmin_first(score, count):
    """Index of the first minimum of ``score[:count]`` (``count >= 1``; scores are never NaN)."""
    m0 = score[0]
    m1 = score[0]
    m2 = score[0]
    m3 = score[0]
    s = 0
    while s + 4 <= count:
        m0 = min(m0, score[s])
        m1 = min(m1, score[s + 1])
        m2 = min(m2, score[s + 2])
        m3 = min(m3, score[s + 3])
        s += 4
    while s < count:
        m0 = min(m0, score[s])
        s += 1
    m = min(min(m0, m1), min(m2, m3))
    for s in range(count):
        if score[s] == m:
            return s
    return 0


@nb.njit(cache=True)
def _record_error(row, err, n, g, t):
    for j in range(row.shape[0]):
        x = row[j]
        if not (x >= 0.0 and x < math.inf):
            err[n, 0] = ERR_NEGATIVE if x < 0.0 and x > -math.inf else ERR_NONFINITE
            err[n, 1] = g
            err[n, 2] = t
            err[n, 3] = j
            return


@nb.njit(cache=True, error_model="numpy")
def _scored_cache(att, n, budget, protect, mode, tau, want_occ, occ, keep, err):
    """Run the H2O / TOVA / LRU step loop of cache ``n`` of ``att [N, G, T, T]``; fill ``keep[n]`` (``occ[n]``).

    Slots are kept sorted by position (an eviction shifts the later slots down), so the ``protect`` most recent
    tokens are the last ``protect`` slots and "ties to the older position" is "first slot with the lowest score".
    The score update of step ``t`` also finds the victim of step ``t + 1`` (scores do not change in between).
    ``err [N, 4]`` receives ``(kind, g, t, j)`` of the first bad value of cache ``n`` (kind 0 = none).
    """
    _, G, T, _ = att.shape
    pos = np.empty(budget + 1, np.uint64)
    score = np.zeros(budget + 1, np.float64)
    w = np.zeros(budget + 1, np.float64)
    buf = np.zeros(budget + 1, np.float64)
    size = 0
    victim = 0
    for t in range(T):
        pos[size] = np.uint64(t)
        score[size] = float(t) if mode == LRU else 0.0
        size += 1
        if size > budget:
            size -= 1
            for s in range(victim, size):
                pos[s] = pos[s + 1]
                score[s] = score[s + 1]
        if want_occ:
            for s in range(size):
                occ[n, t, pos[s]] = True
        # check row t of each head (the eviction above did not read it), then gather query t's weights over the
        # cache while the row is in L1; (renormalised weight of slot s, summed over the group) = w[s] * scale
        if G == 1:
            if not _row_ok(att[n, 0, t]):
                _record_error(att[n, 0, t], err, n, 0, t)
                return
            total = _gather(att[n, 0, t], pos, size, w)
            scale = 1.0 / total if total > 0.0 else 0.0
        else:
            for s in range(size):
                w[s] = 0.0
            for g in range(G):
                if not _row_ok(att[n, g, t]):
                    _record_error(att[n, g, t], err, n, g, t)
                    return
                total = _gather(att[n, g, t], pos, size, buf)
                if total > 0.0:
                    inv = 1.0 / total
                    for s in range(size):
                        w[s] += buf[s] * inv
            scale = 1.0
        # update the scores, then find the next step's victim among slots [0, size + 1 - protect)
        if mode == H2O:
            for s in range(size):
                score[s] += w[s] * scale
        elif mode == TOVA:
            for s in range(size):
                score[s] = w[s] * scale
        else:
            thr = (tau if tau >= 0.0 else 1.0 / size) * G * (1.0 - RTOL)
            ft = float(t)
            for s in range(size):
                if w[s] * scale >= thr:
                    score[s] = ft
        victim = _argmin_first(score, size + 1 - protect)
    for s in range(size):
        keep[n, pos[s]] = True


@nb.njit(cache=True, parallel=True)
def scored_loop(att, budget, protect, mode, tau, want_occ, occ, keep, err):
    """:func:`_scored_cache` for every cache ``n`` of ``att [N, G, T, T]``, caches spread over threads."""
    for n in nb.prange(att.shape[0]):
        _scored_cache(att, n, budget, protect, mode, tau, want_occ, occ, keep, err)


@nb.njit(cache=True)
def scored_loop_serial(att, budget, protect, mode, tau, want_occ, occ, keep, err):
    """:func:`_scored_cache` for every cache, one after the other (small inputs: no thread start-up)."""
    for n in range(att.shape[0]):
        _scored_cache(att, n, budget, protect, mode, tau, want_occ, occ, keep, err)


@nb.njit(cache=True)
def _static_cache(priority, n, budget, want_occ, occ, keep):
    """Step loop of cache ``n`` with fixed scores ``priority [N, T]``: evict the lowest, ties to the older position."""
    T = priority.shape[1]
    pos = np.empty(budget + 1, np.int64)
    score = np.zeros(budget + 1, np.float64)
    size = 0
    for t in range(T):
        pos[size] = t
        score[size] = priority[n, t]
        size += 1
        if size > budget:
            victim = _argmin_first(score, size - 1)  # slots sorted by position; the last one is t
            size -= 1
            for s in range(victim, size):
                pos[s] = pos[s + 1]
                score[s] = score[s + 1]
        if want_occ:
            for s in range(size):
                occ[n, t, pos[s]] = True
    for s in range(size):
        keep[n, pos[s]] = True


@nb.njit(cache=True, parallel=True)
def static_loop(priority, budget, want_occ, occ, keep):
    """:func:`_static_cache` for every cache, spread over threads."""
    for n in nb.prange(priority.shape[0]):
        _static_cache(priority, n, budget, want_occ, occ, keep)


@nb.njit(cache=True)
def static_loop_serial(priority, budget, want_occ, occ, keep):
    """:func:`_static_cache` for every cache, one after the other."""
    for n in range(priority.shape[0]):
        _static_cache(priority, n, budget, want_occ, occ, keep)


@nb.njit(cache=True)
def _check_cache(att, n, err):
    _, G, T, _ = att.shape
    for t in range(T):
        for g in range(G):
            if not _row_ok(att[n, g, t]):
                _record_error(att[n, g, t], err, n, g, t)
                return


@nb.njit(cache=True, parallel=True)
def check_values(att, err):
    """Check every row of ``att [N, G, T, T]`` for NaN, inf and negative values; fill ``err [N, 4]``."""
    for n in nb.prange(att.shape[0]):
        _check_cache(att, n, err)


@nb.njit(cache=True)
def check_values_serial(att, err):
    """:func:`check_values`, one cache after the other."""
    for n in range(att.shape[0]):
        _check_cache(att, n, err)


def dummy_occupancy() -> np.ndarray:
    """A 1-element stand-in for the occupancy array when it is not requested (keeps one compiled signature)."""
    return np.zeros((1, 1, 1), dtype=np.bool_)
