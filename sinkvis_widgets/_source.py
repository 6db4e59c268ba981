"""What the widgets read from a :class:`sinkvis.SinkVis` session, in one place, with caches.

The widgets never touch torch: they ask the session (numpy level, see docs/ARCHITECTURE.md) and the
simulation registry. Simulations are cached per (policy, budget, sink_count, layer, KV head), so the
heatmap overlay, the strips and the memory panel share one run.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

_SIM_CACHE_SIZE = 12


@dataclass(frozen=True)
class Simulation:
    """One policy run for one head's cache.

    Attributes
    ----------
    keep_mask
        ``bool [T]``: tokens in the cache after the last step.
    occupancy
        ``bool [T, T]`` (``O[t, j]`` = key j in the cache when query t attends), or None in stats mode.
    """

    keep_mask: np.ndarray
    occupancy: np.ndarray | None


def _readonly(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def recall_of(attention: np.ndarray, occupancy: np.ndarray, totals: np.ndarray | None = None) -> tuple[float, float]:
    """Mean and worst attention recall of one head: per query, the share of its attention mass on cached keys.

    Same definition as :func:`sinkvis.evaluation.attention_recall` (queries with no mass count as fully
    recalled), computed in row chunks in float32 so that it stays interactive at T = 4096.

    Parameters
    ----------
    attention
        ``[T, T]`` attention of one head.
    occupancy
        ``bool [T, T]`` occupancy of the cache that head reads.
    totals
        Row sums of ``attention`` (computed when not given).
    """
    T = attention.shape[0]
    kept = np.empty(T, dtype=np.float32)
    for start in range(0, T, 256):
        stop = min(T, start + 256)
        kept[start:stop] = np.einsum("ij,ij->i", attention[start:stop], occupancy[start:stop])
    if totals is None:
        totals = attention.sum(axis=1, dtype=np.float64)
    per_query = np.divide(kept, totals, out=np.ones(T), where=totals > 0)
    per_query = np.minimum(per_query, 1.0)
    return float(per_query.mean()), float(per_query.min())


class SessionSource:
    """Read-only view of a captured session for the widgets.

    Parameters
    ----------
    session
        A :class:`sinkvis.SinkVis` with a captured forward pass (or any object with the same
        attributes, see docs/ARCHITECTURE.md).
    """

    def __init__(self, session: Any) -> None:
        self.session = session
        self.mode: str = str(session.mode)
        self.tokens: list[str] = [str(t) for t in session.tokens]
        self.seq_len: int = int(session.seq_len)
        self.layers: list[int] = [int(v) for v in session.layers]
        self.num_heads: int = int(session.num_heads)
        heads = getattr(session, "captured_heads", None)
        self.heads: list[int] = [int(h) for h in heads] if heads is not None else list(range(self.num_heads))
        self.group_size: int = max(1, int(getattr(session, "group_size", 1) or 1))
        self._frame: Any = None
        self._sims: OrderedDict[tuple, Simulation] = OrderedDict()
        self._recalls: dict[tuple, tuple[float, float]] = {}
        self._totals: dict[tuple, np.ndarray] = {}

    # -- analysis --------------------------------------------------------------------------------
    @property
    def frame(self) -> Any:
        """The session's :class:`~sinkvis.analysis.AttentionFrame` (computed once)."""
        if self._frame is None:
            self._frame = self.session.analyze_attention()
        return self._frame

    def head_sink_mass(self) -> np.ndarray:
        """``float32 [L_captured, H_captured]`` share of each head's attention on sink tokens."""
        mass = np.asarray(self.frame.head_sink_mass, dtype=np.float32)
        expected = (len(self.layers), len(self.heads))
        if mass.shape != expected:
            raise ValueError(f"head_sink_mass has shape {mass.shape}, expected {expected}")
        return mass

    def sinks(self) -> list[int]:
        """Sink token positions."""
        return [int(v) for v in self.frame.sink_tokens]

    def heavy_hitters(self) -> list[int]:
        """Heavy-hitter token positions."""
        return [int(v) for v in self.frame.heavy_hitters]

    # -- checks ----------------------------------------------------------------------------------
    def check_layer(self, layer: int) -> int:
        """A captured model layer index, or ValueError naming the valid ones."""
        if layer not in self.layers:
            raise ValueError(f"layer {layer} was not captured; valid layers: {_span(self.layers)}")
        return layer

    def check_head(self, head: int) -> int:
        """A captured query-head index, or ValueError naming the valid ones."""
        if head not in self.heads:
            raise ValueError(f"head {head} does not exist; valid heads: {_span(self.heads)}")
        return head

    # -- data ------------------------------------------------------------------------------------
    def attention(self, layer: int, head: int) -> np.ndarray:
        """``float32 [T, T]`` attention of one head (full mode), read-only."""
        return _readonly(np.asarray(self.session.attention(layer, head), dtype=np.float32))

    def received(self, layer: int, head: int) -> np.ndarray:
        """``float32 [T]`` mean attention each key receives in one head (both modes)."""
        return _readonly(np.asarray(self.session.attention_received(layer, head), dtype=np.float32))

    def policies(self) -> list[str]:
        """Registered policy names (built-ins first, then the user's)."""
        from sinkvis.simulation import list_policies

        return [str(p) for p in list_policies()]

    def uses_attention(self, policy: str) -> bool:
        """Whether a policy reads attention weights."""
        from sinkvis.simulation import get_policy

        return bool(getattr(get_policy(policy), "uses_attention", False))

    def needs_attention(self, policy: str) -> bool:
        """Whether a policy cannot run without attention weights."""
        from sinkvis.simulation import get_policy

        spec = get_policy(policy)
        return bool(getattr(spec, "needs_attention", getattr(spec, "uses_attention", False)))

    def _group_attention(self, layer: int, head: int) -> tuple[np.ndarray, int]:
        """Attention of the query heads sharing ``head``'s KV cache, and the group size used."""
        g = self.group_size
        first = (head // g) * g
        members = list(range(first, first + g))
        if g > 1 and all(m in self.heads for m in members):
            full = np.asarray(self.session.attention(layer), dtype=np.float32)
            pos = [self.heads.index(m) for m in members]
            if pos == list(range(pos[0], pos[0] + g)):
                return full[pos[0] : pos[0] + g], g  # a view, no copy
            return full[pos], g
        return self.attention(layer, head)[None], 1

    def simulate(self, policy: str, budget: int, sink_count: int, layer: int, head: int) -> Simulation:
        """Run (or fetch from cache) one policy for the KV cache that ``head`` of ``layer`` reads.

        Raises
        ------
        ValueError
            Unknown policy, budget < 1, sink_count too large, or an attention-driven policy in stats mode.
        """
        from sinkvis.simulation import run_policy

        full = self.mode == "full"
        uses_attention = self.uses_attention(policy) and full
        if not full and self.needs_attention(policy):
            raise ValueError(f"{policy} needs attention matrices; this capture is mode='stats'")
        kv_head = head // self.group_size
        key = (policy, int(budget), int(sink_count), layer if uses_attention else None,
               kv_head if uses_attention else None)
        hit = self._sims.get(key)
        if hit is not None:
            self._sims.move_to_end(key)
            return hit
        T = self.seq_len
        if uses_attention:
            attention, group = self._group_attention(layer, head)
            result = run_policy(policy, budget=int(budget), seq_len=T, attention=attention,
                                sink_count=int(sink_count), group_size=group, return_occupancy=True)
        else:
            result = run_policy(policy, budget=int(budget), seq_len=T, sink_count=int(sink_count),
                                return_occupancy=full)
        keep = np.asarray(result.keep_mask, dtype=bool).reshape(-1, T)[0]
        occ = getattr(result, "occupancy", None)
        occ = None if occ is None else np.asarray(occ, dtype=bool).reshape(-1, T, T)[0]
        sim = Simulation(_readonly(np.ascontiguousarray(keep)), None if occ is None else _readonly(occ))
        self._sims[key] = sim
        while len(self._sims) > _SIM_CACHE_SIZE:
            self._sims.popitem(last=False)
        return sim

    def recall(self, sim: Simulation, layer: int, head: int, key: tuple) -> tuple[float, float] | None:
        """Mean and worst attention recall of ``head`` under a simulation (None in stats mode)."""
        if sim.occupancy is None or self.mode != "full":
            return None
        full_key = (*key, layer, head)
        if full_key not in self._recalls:
            if len(self._recalls) > 256:
                self._recalls.clear()
            tkey = (layer, head)
            if tkey not in self._totals:
                self._totals = {tkey: self.attention(layer, head).sum(axis=1, dtype=np.float64)}
            self._recalls[full_key] = recall_of(self.attention(layer, head), sim.occupancy, self._totals[tkey])
        return self._recalls[full_key]

    def memory(self, budget: int | None = None) -> dict[str, Any]:
        """The session's memory figures as JSON-ready values."""
        stats = self.session.get_memory_stats(budget=budget)
        return {str(k): _jsonable(v) for k, v in stats.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _span(values: list[int]) -> str:
    if values and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}..{values[-1]}"
    return str(values)
