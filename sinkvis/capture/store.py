"""What a capture holds: tokens, and per layer either full attention matrices or linear-memory statistics."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .probs import LOCAL_WINDOW, StatsAccumulator


class CaptureTooLargeError(MemoryError):
    """A full-matrix capture would exceed the memory limit."""


@dataclass
class LayerStats:
    """Linear-memory statistics of one layer (numpy, after the forward pass)."""

    sum: np.ndarray  # [H, S] float64: attention received, summed over queries
    max: np.ndarray  # [H, S] float32: max attention received from one query
    count: np.ndarray  # [S] int64: number of queries that see the key
    locality_sum: np.ndarray  # [H]
    entropy_sum: np.ndarray  # [H]
    entropy_rows: int
    n_queries: int
    local_window: int = LOCAL_WINDOW

    @classmethod
    def from_accumulator(cls, acc: StatsAccumulator) -> LayerStats:
        return cls(
            sum=acc.sum.numpy(),
            max=acc.max.numpy(),
            count=acc.count.numpy(),
            locality_sum=acc.locality_sum.numpy(),
            entropy_sum=acc.entropy_sum.numpy(),
            entropy_rows=acc.entropy_rows,
            n_queries=acc.n_queries,
            local_window=acc.local_window,
        )

    @classmethod
    def from_probs(cls, probs: np.ndarray, *, chunk: int = 256, local_window: int = LOCAL_WINDOW) -> LayerStats:
        """Statistics of a full ``[H, T, S]`` matrix (same code path as stats-mode capture)."""
        h, t, s = probs.shape
        acc = StatsAccumulator(h, s, local_window=local_window)
        tensor = torch.from_numpy(probs)
        for q0 in range(0, t, chunk):
            acc.add_probs(tensor[:, q0 : q0 + chunk].float(), q0, s - t)
        return cls.from_accumulator(acc)


@dataclass
class Capture:
    """Everything captured from one forward pass, detached from the model.

    Attributes
    ----------
    mode
        ``"full"`` (matrices kept) or ``"stats"`` (linear-memory statistics only).
    input_ids
        ``[T]`` token ids of the captured sequence (``None`` if the model got embeddings).
    layers
        Model layer index -> ``[H, T, S]`` matrix (full mode).
    stats
        Model layer index -> :class:`LayerStats` (stats mode; computed lazily in full mode).
    heads
        Query-head indices captured (``None`` = all).
    """

    mode: str
    input_ids: np.ndarray | None = None
    layers: dict[int, np.ndarray] = field(default_factory=dict)
    stats: dict[int, LayerStats] = field(default_factory=dict)
    heads: list[int] | None = None
    num_heads: int | None = None  # query heads in the model
    num_kv_heads: int | None = None
    head_dim: int | None = None
    seq_len: int = 0
    key_len: int = 0
    complete: bool = False

    @property
    def layer_indices(self) -> list[int]:
        return sorted(self.layers if self.mode == "full" else self.stats)

    def layer_stats(self, layer: int) -> LayerStats:
        if layer not in self.stats:
            self.stats[layer] = LayerStats.from_probs(self.layers[layer])
        return self.stats[layer]

    @property
    def nbytes(self) -> int:
        total = sum(a.nbytes for a in self.layers.values())
        for st in self.stats.values():
            total += st.sum.nbytes + st.max.nbytes + st.count.nbytes
        return int(total)
