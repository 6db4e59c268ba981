"""Heavy hitters: the tokens that receive the most attention, sinks excluded.

Two scores per key, averaged over the captured layers and heads:

* ``accumulated`` — H2O's accumulated attention, the sum of attention received over all queries (favours early
  tokens, which more queries see);
* ``mean`` — the same sum divided by the number of queries that see the key (kvpress' ObservedAttention
  normalisation); keys seen by fewer than ``min_queries`` queries are not ranked by it.
"""

from __future__ import annotations

import numpy as np

SCORES = ("accumulated", "mean")


def default_k(seq_len: int) -> int:
    """Default number of heavy hitters: 5 % of the tokens, at least 1, at most 32."""
    return int(min(32, max(1, round(0.05 * seq_len))))


def heavy_hitters(
    score: np.ndarray, *, k: int, exclude: list[int] | set[int] = (), eligible: np.ndarray | None = None
) -> list[int]:
    """Top-``k`` positions by ``score`` (descending, ties to the earlier position), skipping ``exclude``."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"heavy_hitter_k must be an integer >= 0, got {k!r}")
    s = np.asarray(score, dtype=np.float64).copy()
    s[list(exclude)] = -np.inf
    if eligible is not None:
        s[~eligible] = -np.inf
    order = np.lexsort((np.arange(s.size), -s))
    return [int(i) for i in order[:k] if np.isfinite(s[i])]
