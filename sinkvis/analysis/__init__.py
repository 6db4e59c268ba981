"""Analysis of a capture: attention sinks, heavy hitters and head roles, gathered in an :class:`AttentionFrame`.

Everything is computed from the linear-memory statistics (attention received per head and key, and per-head
locality and entropy), so a full-matrix capture and a ``mode="stats"`` capture of the same pass give the same
answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..capture.store import Capture
from .frame import AttentionFrame
from .heavy import SCORES, default_k, heavy_hitters
from .roles import ROLES, label_roles
from .sinks import (
    DEFAULT_EPS,
    DEFAULT_MIN_SINK_RATE,
    DEFAULT_UNIFORM_FACTOR,
    default_min_queries,
    sink_mask,
    sink_tokens_from_rate,
    uniform_alpha,
)

__all__ = ["ROLES", "AttentionFrame", "analyze", "label_roles"]


def _fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
    return float(value)


def analyze(
    capture: Capture,
    tokens: list[str],
    *,
    eps: float = DEFAULT_EPS,
    min_queries: int | None = None,
    min_sink_rate: float = DEFAULT_MIN_SINK_RATE,
    uniform_factor: float = DEFAULT_UNIFORM_FACTOR,
    heavy_hitter_k: int | None = None,
    heavy_hitter_score: str = "accumulated",
    sink_threshold: float = 0.5,
    local_threshold: float = 0.5,
    diffuse_threshold: float = 0.75,
) -> AttentionFrame:
    """Find sinks, heavy hitters and head roles in a capture.

    Parameters
    ----------
    capture
        A complete :class:`~sinkvis.capture.Capture` (``sv.capture``).
    tokens
        Display strings, one per position.
    eps
        Sink threshold on ``alpha`` (mean attention received from the queries that see the key); 0.3 after
        Gu et al.
    min_queries
        Keys seen by fewer queries are never sinks (default ``min(16, max(1, T // 4))``).
    min_sink_rate
        A token is a sink token when it is a sink in at least this share of the captured heads.
    uniform_factor
        A sink's alpha must also be this many times what uniform attention would give it.
    heavy_hitter_k
        How many heavy hitters (default 5 % of T, 1..32).
    heavy_hitter_score
        ``"accumulated"`` (H2O) or ``"mean"`` (per-query mean).
    sink_threshold, local_threshold, diffuse_threshold
        Head-role thresholds (see :mod:`sinkvis.analysis.roles`).
    """
    eps = _fraction("eps", eps)
    min_sink_rate = _fraction("min_sink_rate", min_sink_rate)
    if heavy_hitter_score not in SCORES:
        raise ValueError(f"heavy_hitter_score must be one of {SCORES}, got {heavy_hitter_score!r}")
    if not capture.complete:
        raise ValueError("the capture is incomplete (its forward pass did not finish)")
    t, s = capture.seq_len, capture.key_len
    if len(tokens) != t:
        raise ValueError(f"tokens has {len(tokens)} entries but {t} tokens were captured")
    if min_queries is None:
        min_queries = default_min_queries(t)
    elif isinstance(min_queries, bool) or not isinstance(min_queries, (int, np.integer)) or min_queries < 1:
        raise ValueError(f"min_queries must be an integer >= 1, got {min_queries!r}")

    layers = capture.layer_indices
    stats = [capture.layer_stats(layer) for layer in layers]
    received_sum = np.stack([st.sum for st in stats]).astype(np.float32)  # [L, H, S]
    received_max = np.stack([st.max for st in stats])
    count = stats[0].count.astype(np.int64)
    if any(not np.isfinite(st.sum).all() for st in stats):
        raise ValueError("the captured attention contains NaN or inf values")
    alphas = received_sum / np.maximum(count, 1)
    uniform = uniform_alpha(t, s)
    is_sink = sink_mask(alphas, count, eps=eps, min_queries=min_queries, uniform=uniform,
                        uniform_factor=uniform_factor)
    sink_rate = is_sink.reshape(-1, s).mean(axis=0)
    sinks = sink_tokens_from_rate(sink_rate, min_sink_rate)

    accumulated = received_sum.reshape(-1, s).mean(axis=0)
    mean = alphas.reshape(-1, s).mean(axis=0)
    k = default_k(t) if heavy_hitter_k is None else heavy_hitter_k
    if heavy_hitter_score == "accumulated":
        hh = heavy_hitters(accumulated, k=k, exclude=sinks)
    else:
        hh = heavy_hitters(mean, k=k, exclude=sinks, eligible=count >= min_queries)

    n_q = np.array([[max(st.n_queries, 1)] for st in stats], dtype=np.float64)  # [L, 1]
    sink_mass = received_sum[:, :, sinks].sum(axis=-1) / n_q if sinks else np.zeros(received_sum.shape[:2])
    locality = np.stack([st.locality_sum for st in stats]) / n_q
    entropy = np.stack([st.entropy_sum / max(st.entropy_rows, 1) for st in stats])
    roles = label_roles(sink_mass, locality, entropy, sink_threshold=sink_threshold,
                        local_threshold=local_threshold, diffuse_threshold=diffuse_threshold)
    heads = list(capture.heads) if capture.heads is not None else list(range(received_sum.shape[1]))
    return AttentionFrame(
        tokens=list(tokens),
        layers=list(layers),
        heads=heads,
        sink_rate=sink_rate.astype(np.float32),
        sink_tokens=sinks,
        heavy_hitters=hh,
        accumulated_attention=accumulated.astype(np.float32),
        mean_attention=mean.astype(np.float32),
        alpha=alphas.astype(np.float32),
        received_sum=received_sum,
        received_max=received_max.astype(np.float32),
        count=count,
        head_sink_mass=sink_mass.astype(np.float32),
        head_locality=locality.astype(np.float32),
        head_entropy=entropy.astype(np.float32),
        head_role_names=roles.tolist(),
        params={
            "eps": eps,
            "min_queries": int(min_queries),
            "min_sink_rate": min_sink_rate,
            "uniform_factor": float(uniform_factor),
            "heavy_hitter_k": int(k),
            "heavy_hitter_score": heavy_hitter_score,
            "sink_threshold": sink_threshold,
            "local_threshold": local_threshold,
            "diffuse_threshold": diffuse_threshold,
            "local_window": int(stats[0].local_window),
        },
    )
