"""The built-in policies' entries in the registry, and the adapters from :func:`run_policy`'s call to each function."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from sinkvis.simulation.fixed import (
    simulate_full,
    simulate_random,
    simulate_sliding_window,
    simulate_streaming_llm,
)
from sinkvis.simulation.registry import _REGISTRY, Policy
from sinkvis.simulation.scored import simulate_h2o, simulate_lru, simulate_tova
from sinkvis.simulation.snapkv import simulate_snapkv


def _broadcast(
    keep: np.ndarray, occ: np.ndarray | None, lead: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray | None]:
    """Broadcast a single-cache result to ``lead`` caches (keep copied, occupancy a read-only view)."""
    if not lead:
        return keep, occ
    T = keep.shape[-1]
    keep = np.broadcast_to(keep, (*lead, T)).copy()
    return keep, (None if occ is None else np.broadcast_to(occ, (*lead, T, T)))


def _split(out: Any, return_occupancy: bool) -> tuple[np.ndarray, np.ndarray | None]:
    return out if return_occupancy else (out, None)


def _run_full(T, budget, sink_count, att, group_size, lead, want):
    return _broadcast(*_split(simulate_full(T, budget, return_occupancy=want), want), lead)


def _run_window(T, budget, sink_count, att, group_size, lead, want):
    return _broadcast(*_split(simulate_sliding_window(T, budget, return_occupancy=want), want), lead)


def _run_streaming(T, budget, sink_count, att, group_size, lead, want):
    out = simulate_streaming_llm(T, budget, sink_count, return_occupancy=want)
    return _broadcast(*_split(out, want), lead)


def _run_random(T, budget, sink_count, att, group_size, lead, want, seed=0):
    return _split(simulate_random(T, budget, seed=seed, shape=lead, return_occupancy=want), want)


def _attention_runner(func: Callable[..., Any]) -> Callable[..., tuple[np.ndarray, np.ndarray | None]]:
    def runner(T, budget, sink_count, att, group_size, lead, want, **params):
        if att is None:  # only lru gets here (attention optional)
            return _split(func(T, budget, None, return_occupancy=want, **params), want)
        out = func(None, budget, att, group_size=group_size, return_occupancy=want, **params)
        return _split(out, want)

    return runner


def _register_builtin(
    name: str,
    func: Callable[..., Any],
    runner: Callable[..., tuple[np.ndarray, np.ndarray | None]],
    *,
    uses_attention: bool,
    uses_sinks: bool,
    description: str,
    parameters: tuple[str, ...] = (),
    attention_optional: bool = False,
) -> None:
    _REGISTRY[name] = Policy(
        name=name,
        func=func,
        uses_attention=uses_attention,
        uses_sinks=uses_sinks,
        description=description,
        attention_optional=attention_optional,
        builtin=True,
        parameters=parameters,
        _runner=runner,
    )


def _keyword_only(func: Callable[..., Any], exclude: tuple[str, ...]) -> tuple[str, ...]:
    sig = inspect.signature(func)
    return tuple(
        p.name for p in sig.parameters.values() if p.kind is p.KEYWORD_ONLY and p.name not in exclude
    )


_COMMON = ("group_size", "return_occupancy")
_register_builtin(
    "full", simulate_full, _run_full, uses_attention=False, uses_sinks=False,
    description="keep every token (baseline)",
)
_register_builtin(
    "lru", simulate_lru, _attention_runner(simulate_lru), uses_attention=True, uses_sinks=False,
    attention_optional=True, parameters=_keyword_only(simulate_lru, _COMMON),
    description="evict the least recently used token (used = above-uniform attention); "
    "without attention, the sliding window",
)
_register_builtin(
    "sliding_window", simulate_sliding_window, _run_window, uses_attention=False, uses_sinks=False,
    description="keep the last budget tokens",
)
_register_builtin(
    "streaming_llm", simulate_streaming_llm, _run_streaming, uses_attention=False, uses_sinks=True,
    description="keep the first sink_count tokens and the most recent ones",
)
_register_builtin(
    "h2o", simulate_h2o, _attention_runner(simulate_h2o), uses_attention=True, uses_sinks=False,
    parameters=_keyword_only(simulate_h2o, _COMMON),
    description="keep a recent window plus the heavy hitters (most accumulated attention)",
)
_register_builtin(
    "tova", simulate_tova, _attention_runner(simulate_tova), uses_attention=True, uses_sinks=False,
    parameters=_keyword_only(simulate_tova, _COMMON),
    description="evict the token the latest query attended to least",
)
_register_builtin(
    "snapkv", simulate_snapkv, _attention_runner(simulate_snapkv), uses_attention=True, uses_sinks=False,
    parameters=_keyword_only(simulate_snapkv, _COMMON),
    description="one-shot: keep the last queries' window plus the keys it attends to most (an oracle)",
)
_register_builtin(
    "random", simulate_random, _run_random, uses_attention=False, uses_sinks=False,
    parameters=("seed",),
    description="evict a uniformly random cached token (seeded baseline)",
)
