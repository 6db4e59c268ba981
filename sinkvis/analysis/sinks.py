"""Attention sinks (Gu et al., "When Attention Sink Emerges in Language Models", eps = 0.3).

For layer l, head h and key k, ``alpha = mean over the queries t >= k of A[t, k]``. Key k is a sink in that head
when ``alpha > eps`` and two guards hold:

* it is seen by at least ``min_queries`` queries (the last positions are seen by few queries, so their alpha is
  noise); default ``min(16, max(1, T // 4))``;
* ``alpha`` is at least ``uniform_factor`` (default 2) times what uniform attention would give that key
  (``mean over t >= k of 1 / (number of keys query t sees)``): on a short sequence the first key gets a large
  alpha from uniform attention alone, which is not a sink.

A token's *sink rate* is the fraction of captured heads (all layers) in which it is a sink; *sink tokens* are the
tokens whose rate is at least ``min_sink_rate`` (default 0.1).
"""

from __future__ import annotations

import numpy as np

DEFAULT_EPS = 0.3
DEFAULT_MIN_SINK_RATE = 0.1
DEFAULT_UNIFORM_FACTOR = 2.0


def default_min_queries(seq_len: int) -> int:
    """Fewest queries that must see a key before it can be called a sink: ``min(16, max(1, T // 4))``."""
    return min(16, max(1, seq_len // 4))


def alpha(received_sum: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Mean attention a key receives from the queries that see it: ``sum / count`` (0 where unseen)."""
    return received_sum / np.maximum(count, 1)


def uniform_alpha(seq_len: int, key_len: int) -> np.ndarray:
    """Alpha of each key under uniform causal attention: ``mean over t >= k of 1 / (t + 1 + S - T)``."""
    offset = key_len - seq_len
    inv = 1.0 / (np.arange(seq_len) + 1 + offset)  # what query t gives each key it sees
    # key k is seen by queries t >= k - offset
    suffix = np.cumsum(inv[::-1])[::-1]
    out = np.zeros(key_len)
    for_keys = np.clip(np.arange(key_len) - offset, 0, seq_len - 1)
    n = seq_len - for_keys
    out[:] = suffix[for_keys] / n
    return out


def sink_mask(
    alphas: np.ndarray,
    count: np.ndarray,
    *,
    eps: float = DEFAULT_EPS,
    min_queries: int,
    uniform: np.ndarray,
    uniform_factor: float = DEFAULT_UNIFORM_FACTOR,
) -> np.ndarray:
    """Boolean ``[..., S]``: key is a sink in that head."""
    return (alphas > eps) & (count >= min_queries) & (alphas >= uniform_factor * uniform)


def sink_tokens_from_rate(sink_rate: np.ndarray, min_sink_rate: float = DEFAULT_MIN_SINK_RATE) -> list[int]:
    """Positions whose sink rate is at least ``min_sink_rate`` (and above zero)."""
    return [int(i) for i in np.flatnonzero((sink_rate >= min_sink_rate) & (sink_rate > 0))]
