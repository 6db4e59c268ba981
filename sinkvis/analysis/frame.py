"""``AttentionFrame``: what the analysis found, with the linear-memory statistics it was computed from."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

_ARRAYS = (
    "sink_rate",
    "accumulated_attention",
    "mean_attention",
    "alpha",
    "received_sum",
    "received_max",
    "count",
    "head_sink_mass",
    "head_locality",
    "head_entropy",
)


@dataclass
class AttentionFrame:
    """Sinks, heavy hitters and head roles of one captured sequence.

    Attributes
    ----------
    tokens
        Display strings, one per position.
    layers
        Model layer indices the frame covers; axis 0 of every ``[L, H, ...]`` array.
    heads
        Query-head indices; axis 1 of every ``[L, H, ...]`` array.
    sink_rate
        ``[T]`` fraction of captured heads in which each token is a sink.
    sink_tokens
        Positions whose sink rate is at least ``params["min_sink_rate"]``.
    heavy_hitters
        Top-k non-sink positions by ``params["heavy_hitter_score"]``.
    accumulated_attention, mean_attention
        ``[T]`` H2O accumulated attention and its per-query mean, averaged over layers and heads.
    alpha
        ``[L, H, T]`` mean attention each key receives from the queries that see it.
    received_sum, received_max, count
        The statistics: ``[L, H, T]`` sum and max of attention received, ``[T]`` queries that see each key.
    head_sink_mass, head_locality, head_entropy
        ``[L, H]`` per-head figures (see :mod:`sinkvis.analysis.roles`).
    head_role_names
        ``[L][H]`` role labels: ``sink``, ``local``, ``diffuse`` or ``mixed``.
    params
        The thresholds used.
    """

    tokens: list[str]
    layers: list[int]
    heads: list[int]
    sink_rate: np.ndarray
    sink_tokens: list[int]
    heavy_hitters: list[int]
    accumulated_attention: np.ndarray
    mean_attention: np.ndarray
    alpha: np.ndarray
    received_sum: np.ndarray
    received_max: np.ndarray
    count: np.ndarray
    head_sink_mass: np.ndarray
    head_locality: np.ndarray
    head_entropy: np.ndarray
    head_role_names: list[list[str]]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def seq_len(self) -> int:
        """Number of tokens ``T``."""
        return len(self.tokens)

    @property
    def head_roles(self) -> list[dict[str, Any]]:
        """One dict per captured head: ``layer, head, role, sink_mass, locality, entropy``."""
        out = []
        for i, layer in enumerate(self.layers):
            for j, head in enumerate(self.heads):
                out.append(
                    {
                        "layer": int(layer),
                        "head": int(head),
                        "role": self.head_role_names[i][j],
                        "sink_mass": float(self.head_sink_mass[i, j]),
                        "locality": float(self.head_locality[i, j]),
                        "entropy": float(self.head_entropy[i, j]),
                    }
                )
        return out

    def role_counts(self) -> dict[str, int]:
        """How many heads have each role."""
        from .roles import ROLES

        flat = [r for row in self.head_role_names for r in row]
        return {role: flat.count(role) for role in ROLES}

    def sink_rate_by_layer(self, token: int = 0) -> np.ndarray:
        """``[L]`` share of each layer's heads in which ``token`` is a sink.

        Uses the frame's sink thresholds (``params``: ``eps``, ``min_queries``, ``uniform_factor``).

        Parameters
        ----------
        token : int, default 0
            Token position (numpy indexing: negative counts from the end; out of range raises ``IndexError``).

        Returns
        -------
        numpy.ndarray
            ``[L]`` floats in ``[0, 1]``, one per layer of :attr:`layers`.
        """
        is_sink = self._sink_heads()
        return is_sink[:, :, token].mean(axis=1)

    def _sink_heads(self) -> np.ndarray:
        from .sinks import sink_mask, uniform_alpha

        p = self.params
        return sink_mask(
            self.alpha,
            self.count,
            eps=p["eps"],
            min_queries=p["min_queries"],
            uniform=uniform_alpha(self.seq_len, self.count.shape[-1]),
            uniform_factor=p["uniform_factor"],
        )

    def summary(self) -> dict[str, Any]:
        """Headline figures: sink tokens with their rates, heavy hitters, role counts."""
        return {
            "tokens": self.seq_len,
            "layers": len(self.layers),
            "heads": len(self.heads),
            "sink_tokens": [
                {"position": i, "token": self.tokens[i], "sink_rate": round(float(self.sink_rate[i]), 4)}
                for i in self.sink_tokens
            ],
            "heavy_hitters": [
                {"position": i, "token": self.tokens[i], "score": round(float(self.accumulated_attention[i]), 4)}
                for i in self.heavy_hitters
            ],
            "roles": self.role_counts(),
            "mean_sink_mass": float(self.head_sink_mass.mean()) if self.head_sink_mass.size else 0.0,
        }

    def __repr__(self) -> str:
        s = self.summary()
        sinks = ", ".join(f"{d['position']}:{d['token']!r} ({d['sink_rate']:.0%})" for d in s["sink_tokens"][:5])
        return (
            f"AttentionFrame({s['tokens']} tokens, {s['layers']} layers x {s['heads']} heads; "
            f"sinks: [{sinks}]; heavy hitters: {self.heavy_hitters[:8]}; roles: {s['roles']})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain Python (JSON-serialisable) form: lists instead of arrays."""
        out: dict[str, Any] = {
            "tokens": list(self.tokens),
            "layers": list(self.layers),
            "heads": list(self.heads),
            "sink_tokens": list(self.sink_tokens),
            "heavy_hitters": list(self.heavy_hitters),
            "head_role_names": [list(r) for r in self.head_role_names],
            "head_roles": self.head_roles,
            "params": dict(self.params),
            "summary": self.summary(),
        }
        for name in _ARRAYS:
            out[name] = getattr(self, name).tolist()
        return out

    def save(self, path: str | Path) -> Path:
        """Write the frame to ``path`` (a ``.npz`` file; arrays plus JSON metadata). Returns the path.

        Parameters
        ----------
        path : str or pathlib.Path
            File to write (overwritten). A path not ending in ``.npz`` gets ``.npz`` appended
            (``frame.json`` becomes ``frame.json.npz``, ``frame`` becomes ``frame.npz``).

        Returns
        -------
        pathlib.Path
            The path actually written (with the ``.npz`` suffix).
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
        meta = {
            "tokens": self.tokens,
            "layers": self.layers,
            "heads": self.heads,
            "sink_tokens": self.sink_tokens,
            "heavy_hitters": self.heavy_hitters,
            "head_role_names": self.head_role_names,
            "params": self.params,
            "format": "sinkvis.AttentionFrame/1",
        }
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        np.savez_compressed(path, __meta__=np.array(json.dumps(meta)), **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> AttentionFrame:
        """Read a frame written by :meth:`save`.

        Parameters
        ----------
        path : str or pathlib.Path
            The ``.npz`` file, exactly as returned by :meth:`save` (no suffix is added here).

        Returns
        -------
        AttentionFrame
            The frame, with the arrays and metadata that were saved.

        Raises
        ------
        ValueError
            The file has no SinkVis metadata (not written by :meth:`save`).
        FileNotFoundError
            ``path`` does not exist.
        """
        with np.load(Path(path), allow_pickle=False) as data:
            if "__meta__" not in data:
                raise ValueError(f"{path} is not a SinkVis AttentionFrame file (no metadata)")
            meta = json.loads(str(data["__meta__"]))
            arrays = {name: data[name] for name in _ARRAYS}
        meta.pop("format", None)
        return cls(**meta, **arrays)

    def plot(self, *, figsize: tuple[float, float] = (12, 4.5)) -> Any:
        """Matplotlib figure: sink rate per token (left) and the head-role grid coloured by sink mass (right).

        The figure is not registered with pyplot.

        Parameters
        ----------
        figsize : tuple of float, default (12, 4.5)
            Figure width and height in inches (keyword only).

        Returns
        -------
        matplotlib.figure.Figure
            The figure with its two axes.
        """
        from .. import plotting

        fig = plotting._DisplayFigure(figsize=figsize, layout="constrained")  # not registered with pyplot
        ax1, ax2 = fig.subplots(1, 2, width_ratios=[3, 2])
        plotting.plot_sink_rate(self.sink_rate, self.tokens, threshold=self.params.get("min_sink_rate"), ax=ax1)
        plotting.plot_head_roles(self.head_sink_mass, self.head_role_names, layers=self.layers, ax=ax2)
        return fig
