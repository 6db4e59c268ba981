"""Compiled (numba) step loops: the sequential part of every simulation, run over all caches at once.

A *cache* is one KV head of one layer: the attention of its ``G`` query heads, ``att[n, :, :, :]`` of an array
``[N, G, T, T]``.  Each cache keeps its own slot arrays (``pos``: the position held in a slot, ``score``: that
token's eviction score), ``budget + 1`` slots long.  Step ``t``: check row ``t`` of every head of the group (NaN, inf,
negative -> error record), insert token ``t``, evict one token if over budget, record the occupancy row, let query
``t`` attend over the cache and update the scores.

Eviction rule shared by all modes: among the cached tokens at positions ``<= t - protect`` (``protect >= 1``: the
current token is never evicted), evict the one with the lowest score; ties go to the older (smaller) position.

Modes (``mode`` argument):

``H2O``  score = sum over past queries and over the group's heads of the renormalised weight; starts at 0.
``TOVA`` score = sum over the group's heads of the renormalised weight from the most recent query (replaced).
``LRU``  score = step of the last use; insertion is a use; the token is used at step ``t`` when the mean over the
         group's heads of its renormalised weight is ``>= tau`` (``tau < 0`` means ``1 / cache size``), compared with
         a relative tolerance ``RTOL`` so an exactly uniform row counts as used despite rounding.

Renormalisation: weight = ``a * (1 / s)`` with ``s`` the float64 sum of the row over the cached keys; a row whose
cached sum is 0 (padding) gives weight 0 to every key.
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


@nb.njit(cache=True, parallel=True)
def scored_loop(att, budget, protect, mode, tau, want_occ, occ, keep, err):
    """Run the H2O / TOVA / LRU step loop over ``att [N, G, T, T]``; fill ``keep [N, T]`` (and ``occ [N, T, T]``).

    Slots are kept sorted by position (an eviction shifts the later slots down), so the ``protect`` most recent
    tokens are the last ``protect`` slots and "ties to the older position" is "first slot with the lowest score".
    ``err [N, 4]`` receives ``(kind, g, t, j)`` of the first bad value of cache ``n`` (kind 0 = none).
    """
    N, G, T, _ = att.shape
    for n in nb.prange(N):
        pos = np.empty(budget + 1, np.int64)
        score = np.zeros(budget + 1, np.float64)
        w = np.zeros(budget + 1, np.float64)
        size = 0
        failed = False
        for t in range(T):
            for g in range(G):
                if not _row_ok(att[n, g, t]):
                    _record_error(att[n, g, t], err, n, g, t)
                    failed = True
                    break
            if failed:
                break
            pos[size] = t
            score[size] = float(t) if mode == LRU else 0.0
            size += 1
            if size > budget:
                # candidates: slots [0, size - protect); the rest are the protect most recent positions
                best = 0
                best_score = score[0]
                for s in range(1, size - protect):
                    if score[s] < best_score:
                        best = s
                        best_score = score[s]
                size -= 1
                for s in range(best, size):
                    pos[s] = pos[s + 1]
                    score[s] = score[s + 1]
            if want_occ:
                for s in range(size):
                    occ[n, t, pos[s]] = True
            if G == 1:
                row = att[n, 0, t]
                total = 0.0
                for s in range(size):
                    w[s] = row[pos[s]]
                    total += w[s]
                inv = 1.0 / total if total > 0.0 else 0.0
                for s in range(size):
                    w[s] = w[s] * inv
            else:
                for s in range(size):
                    w[s] = 0.0
                for g in range(G):
                    row = att[n, g, t]
                    total = 0.0
                    for s in range(size):
                        total += row[pos[s]]
                    if total > 0.0:
                        inv = 1.0 / total
                        for s in range(size):
                            w[s] += row[pos[s]] * inv
            if mode == H2O:
                for s in range(size):
                    score[s] += w[s]
            elif mode == TOVA:
                for s in range(size):
                    score[s] = w[s]
            else:
                thr = (tau if tau >= 0.0 else 1.0 / size) * G * (1.0 - RTOL)
                ft = float(t)
                for s in range(size):
                    if w[s] >= thr:
                        score[s] = ft
        for s in range(size):
            keep[n, pos[s]] = True


@nb.njit(cache=True, parallel=True)
def static_loop(priority, budget, want_occ, occ, keep):
    """Step loop with fixed per-token scores ``priority [N, T]``: evict the lowest, ties to the older position."""
    N, T = priority.shape
    for n in nb.prange(N):
        pos = np.empty(budget + 1, np.int64)
        score = np.zeros(budget + 1, np.float64)
        size = 0
        for t in range(T):
            pos[size] = t
            score[size] = priority[n, t]
            size += 1
            if size > budget:
                best = -1
                best_score = 0.0
                best_pos = 0
                for s in range(size):
                    p = pos[s]
                    if p == t:
                        continue
                    sc = score[s]
                    if best < 0 or sc < best_score or (sc == best_score and p < best_pos):
                        best = s
                        best_score = sc
                        best_pos = p
                size -= 1
                pos[best] = pos[size]
                score[best] = score[size]
            if want_occ:
                for s in range(size):
                    occ[n, t, pos[s]] = True
        for s in range(size):
            keep[n, pos[s]] = True


@nb.njit(cache=True, parallel=True)
def check_values(att, err):
    """Check every row of ``att [N, G, T, T]`` for NaN, inf and negative values; fill ``err [N, 4]``."""
    N, G, T, _ = att.shape
    for n in nb.prange(N):
        done = False
        for t in range(T):
            for g in range(G):
                if not _row_ok(att[n, g, t]):
                    _record_error(att[n, g, t], err, n, g, t)
                    done = True
                    break
            if done:
                break


def dummy_occupancy() -> np.ndarray:
    """A 1-element stand-in for the occupancy array when it is not requested (keeps one compiled signature)."""
    return np.zeros((1, 1, 1), dtype=np.bool_)
