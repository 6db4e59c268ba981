"""``SimulationResult``: what :func:`sinkvis.simulation.run_policy` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["SimulationResult"]


@dataclass(frozen=True)
class SimulationResult:
    """The outcome of simulating one eviction policy.

    Attributes
    ----------
    keep_mask : numpy.ndarray
        Bool ``[..., T]``: the cache after the last step (``min(T, budget)`` True per cache).
    occupancy : numpy.ndarray or None
        Bool ``[..., T, T]`` (``occupancy[..., t, j]``: key ``j`` is cached when query ``t`` attends), or None unless
        requested.  For a policy that ignores attention run over attention with leading dims, it is a read-only
        broadcast view of one ``[T, T]`` matrix.
    policy : str
        Registered policy name.
    budget : int
        The budget simulated.
    sink_count : int or None
        The sink count used, or None for policies that do not use sinks.
    params : dict
        Extra policy parameters passed (e.g. ``recent_window``).
    """

    keep_mask: np.ndarray
    occupancy: np.ndarray | None
    policy: str
    budget: int
    sink_count: int | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def seq_len(self) -> int:
        """Sequence length T."""
        return int(self.keep_mask.shape[-1])

    @property
    def num_kept(self) -> np.ndarray | int:
        """Number of kept tokens per cache (an int for a single cache)."""
        counts = self.keep_mask.sum(axis=-1)
        return int(counts) if np.ndim(counts) == 0 else counts
