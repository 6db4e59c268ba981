"""AttentionHeatmap: canvas heatmap of one head, or its attention-received profile in stats mode."""

from __future__ import annotations

from typing import Any

import traitlets
from anywidget.experimental import command

from ._arrays import (
    MAX_HEATMAP_BYTES,
    array_payload,
    evicted_share,
    max_pool_2d,
    payload_bytes,
    pool_factor,
)
from ._base import STATIC, SinkVisWidget, check_int
from ._source import SessionSource

#: Largest pooled side whose float32 matrix plus uint8 overlay fits in MAX_HEATMAP_BYTES.
MAX_CELLS_LIMIT = int((MAX_HEATMAP_BYTES / 5) ** 0.5)


class AttentionHeatmap(SinkVisWidget):
    """Heatmap of the selected head's attention (full mode) or attention received per key (stats mode).

    Sequences longer than ``max_cells`` are max-pooled in Python before sending, so single sinks stay
    visible and one update stays under 1 MiB whatever T. Zooming in the browser (drag a region or use
    the wheel) fetches the window at full resolution through the ``fetch_window`` command. With a
    ``policy``, the cells that policy evicted from this head's KV cache are greyed.

    Parameters
    ----------
    session
        A captured :class:`sinkvis.SinkVis` (or a :class:`~sinkvis_widgets._source.SessionSource`).
    layer, head
        The head to show (layer: model index, negative counts from the last captured layer).
    policy
        Policy whose evicted cells are greyed ('' for none).
    budget, sink_count
        Parameters of that policy.
    scale
        ``"linear"`` or ``"log"`` colour scale.
    max_cells
        Largest side of the pooled matrix sent to the browser (at most 457).
    """

    _esm = STATIC / "heatmap.js"

    mode = traitlets.Unicode("full", read_only=True).tag(sync=True)
    seq_len = traitlets.Int(0, read_only=True).tag(sync=True)
    tokens = traitlets.List(traitlets.Unicode(), read_only=True).tag(sync=True)
    sinks = traitlets.List(traitlets.Int(), read_only=True).tag(sync=True)
    heavy_hitters = traitlets.List(traitlets.Int(), read_only=True).tag(sync=True)
    matrix = traitlets.Any(None, allow_none=True, read_only=True, help="float32 [n, n] pooled matrix.").tag(sync=True)
    factor = traitlets.Int(1, read_only=True, help="Tokens per pooled cell.").tag(sync=True)
    overlay = traitlets.Any(None, allow_none=True, read_only=True, help="uint8 [n, n] evicted share.").tag(sync=True)
    profile = traitlets.Any(None, allow_none=True, read_only=True, help="float32 [T] (stats mode).").tag(sync=True)
    keep_mask = traitlets.Any(None, allow_none=True, read_only=True, help="uint8 [T] (stats mode).").tag(sync=True)

    layer = traitlets.Int(0).tag(sync=True)
    head = traitlets.Int(0).tag(sync=True)
    policy = traitlets.Unicode("").tag(sync=True)
    budget = traitlets.Int(64).tag(sync=True)
    sink_count = traitlets.Int(4).tag(sync=True)
    scale = traitlets.Unicode("linear").tag(sync=True)
    max_cells = traitlets.Int(400).tag(sync=True)

    def __init__(
        self,
        session: Any,
        *,
        layer: int = -1,
        head: int | None = None,
        policy: str = "",
        budget: int | None = None,
        sink_count: int = 4,
        **kwargs: Any,
    ) -> None:
        source = session if isinstance(session, SessionSource) else SessionSource(session)
        self._source = source
        self._matrix_key: tuple | None = None
        self.last_update_bytes = 0
        if isinstance(layer, int) and not isinstance(layer, bool) and layer < 0 and -layer <= len(source.layers):
            layer = source.layers[layer]
        if head is None:
            head = source.heads[0]
        if budget is None:
            budget = max(1, min(source.seq_len, 64))
        super().__init__(layer=layer, head=head, policy=policy, budget=budget, sink_count=sink_count, **kwargs)
        self.set_trait("mode", source.mode)
        self.set_trait("seq_len", source.seq_len)
        self.set_trait("tokens", list(source.tokens))
        with self._reporting("analysis"):
            self.set_trait("sinks", source.sinks())
            self.set_trait("heavy_hitters", source.heavy_hitters())
        self._refresh()
        self.observe(self._changed, names=["layer", "head", "policy", "budget", "sink_count", "max_cells"])

    # -- validation ------------------------------------------------------------------------------
    @traitlets.validate("layer")
    def _valid_layer(self, proposal: Any) -> int:
        return _checked(self._source.check_layer, check_int("layer", proposal["value"]))

    @traitlets.validate("head")
    def _valid_head(self, proposal: Any) -> int:
        return _checked(self._source.check_head, check_int("head", proposal["value"]))

    @traitlets.validate("budget")
    def _valid_budget(self, proposal: Any) -> int:
        return check_int("budget", proposal["value"], minimum=1)

    @traitlets.validate("sink_count")
    def _valid_sink_count(self, proposal: Any) -> int:
        return check_int("sink_count", proposal["value"], minimum=0)

    @traitlets.validate("max_cells")
    def _valid_max_cells(self, proposal: Any) -> int:
        return check_int("max_cells", proposal["value"], minimum=16, maximum=MAX_CELLS_LIMIT)

    @traitlets.validate("scale")
    def _valid_scale(self, proposal: Any) -> str:
        if proposal["value"] not in ("linear", "log"):
            raise traitlets.TraitError(f"scale must be 'linear' or 'log', got {proposal['value']!r}")
        return proposal["value"]

    @traitlets.validate("policy")
    def _valid_policy(self, proposal: Any) -> str:
        value = proposal["value"]
        if not isinstance(value, str):
            raise traitlets.TraitError(f"policy must be a string, got {value!r}")
        if value and value not in self._source.policies():
            raise traitlets.TraitError(
                f"unknown policy {value!r}; valid: {', '.join(self._source.policies())} (or '' for none)"
            )
        return value

    # -- Python API ------------------------------------------------------------------------------
    def select(self, layer: int, head: int) -> None:
        """Show another head (one refresh).

        Both traits are set first, then the heatmap is recomputed once, if either changed.

        Parameters
        ----------
        layer : int
            A captured model layer index (negative indices are not accepted here).
        head : int
            A captured query-head index.

        Raises
        ------
        traitlets.TraitError
            ``layer`` or ``head`` is not an int or was not captured; a value assigned before the failing one
            stays set.
        """
        with self._batch():
            self.layer = layer
            self.head = head

    def set_policy(self, policy: str, budget: int, sink_count: int) -> None:
        """Grey the cells another policy / budget evicts (one refresh).

        The three traits are set first, then the heatmap is recomputed once, if any changed. An error of
        the simulation itself is shown in the widget's ``error`` trait, not raised.

        Parameters
        ----------
        policy : str
            A registered policy name, or ``""`` for no overlay.
        budget : int
            Most KV entries kept (>= 1).
        sink_count : int
            Sinks kept by sink-using policies (>= 0).

        Raises
        ------
        traitlets.TraitError
            A value that fails validation (unknown policy, non-int or out-of-range budget / sink count); a
            value assigned before the failing one stays set.
        """
        with self._batch():
            self.policy = policy
            self.budget = budget
            self.sink_count = sink_count

    # -- payloads --------------------------------------------------------------------------------
    def _simulation(self) -> Any:
        if not self.policy:
            return None
        return self._source.simulate(self.policy, self.budget, self.sink_count, self.layer, self.head)

    def _refresh(self) -> None:
        self.error = ""
        with self._reporting("heatmap"), self.hold_sync():
            if self.mode == "stats":
                self._refresh_stats()
            else:
                self._refresh_full()

    def _refresh_full(self) -> None:
        T = self._source.seq_len
        factor = pool_factor(T, self.max_cells)
        key = (self.layer, self.head, factor)
        sent = 0
        if key != self._matrix_key:
            pooled = max_pool_2d(self._source.attention(self.layer, self.head), factor)
            self.set_trait("factor", factor)
            self.set_trait("matrix", array_payload(pooled, "float32"))
            self._matrix_key = key
            sent += payload_bytes(self.matrix)
        try:
            sim = self._simulation()
        except Exception:
            self.set_trait("overlay", None)
            raise
        overlay = None
        if sim is not None and sim.occupancy is not None:
            overlay = array_payload(evicted_share(sim.occupancy, factor), "uint8")
        self.set_trait("overlay", overlay)
        sent += payload_bytes(overlay)
        self.last_update_bytes = sent

    def _refresh_stats(self) -> None:
        self.set_trait("profile", array_payload(self._source.received(self.layer, self.head), "float32"))
        try:
            sim = self._simulation()
        except Exception:
            self.set_trait("keep_mask", None)
            raise
        self.set_trait("keep_mask", None if sim is None else array_payload(sim.keep_mask, "uint8"))
        self.last_update_bytes = payload_bytes(self.profile) + payload_bytes(self.keep_mask)

    # -- detail on demand ------------------------------------------------------------------------
    @command
    def fetch_window(self, msg: Any, buffers: list[bytes]) -> tuple[dict[str, Any], list[Any]]:
        """Full-resolution (or lightly pooled) window ``[q0:q1, k0:k1]`` of the shown head.

        The response holds ``q0, q1, k0, k1, factor, dtype, shape, has_overlay, layer, head`` (or ``error``);
        the buffers hold the float32 matrix and, with a policy, the uint8 evicted share. Called by the front
        end through anywidget's command channel.

        Parameters
        ----------
        msg : dict
            The window: integer ``q0, q1, k0, k1`` in ``0..T`` with ``q0 < q1`` and ``k0 < k1`` (end exclusive).
        buffers : list of bytes
            Binary buffers sent with the request (not used).

        Returns
        -------
        tuple of (dict, list)
            The response dict and its binary buffers. Nothing is raised: an invalid request (stats mode, bad
            or empty window) or a failed simulation returns ``({"error": "fetch_window refused: ..."}, [])``.
        """
        try:
            return self._window(msg)
        except Exception as err:  # noqa: BLE001 - answered to the browser, never raised into the comm
            return {"error": f"fetch_window refused: {err}"}, []

    def _window(self, msg: Any) -> tuple[dict[str, Any], list[Any]]:
        if self.mode != "full":
            raise ValueError("no attention matrix in mode='stats'")
        if not isinstance(msg, dict):
            raise ValueError(f"expected a dict with q0, q1, k0, k1, got {msg!r}")
        T = self._source.seq_len
        q0, q1, k0, k1 = (check_int(n, msg.get(n), minimum=0, maximum=T) for n in ("q0", "q1", "k0", "k1"))
        if q1 <= q0 or k1 <= k0:
            raise ValueError(f"empty window q[{q0}:{q1}] k[{k0}:{k1}]")
        factor = pool_factor(max(q1 - q0, k1 - k0), self.max_cells)
        window = self._source.attention(self.layer, self.head)[q0:q1, k0:k1]
        pooled = max_pool_2d(window, factor)
        out = [array_payload(pooled, "float32")["view"]]
        sim = self._simulation()
        has_overlay = sim is not None and sim.occupancy is not None
        if has_overlay:
            out.append(array_payload(evicted_share(sim.occupancy[q0:q1, k0:k1], factor, q0, k0), "uint8")["view"])
        self.last_update_bytes = sum(memoryview(b).nbytes for b in out)
        response = {
            "q0": q0, "q1": q1, "k0": k0, "k1": k1, "factor": factor, "dtype": "float32",
            "shape": [int(s) for s in pooled.shape], "has_overlay": has_overlay,
            "layer": self.layer, "head": self.head,
        }
        return response, out


def _checked(check: Any, value: int) -> int:
    try:
        return check(value)
    except ValueError as err:
        raise traitlets.TraitError(str(err)) from None
