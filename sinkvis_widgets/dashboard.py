"""Dashboard: the selector, heatmap, policy comparison and memory panel, linked (behind ``sv.show()``)."""

from __future__ import annotations

from typing import Any

import ipywidgets

from ._source import SessionSource
from .heatmap import AttentionHeatmap
from .memory_panel import MemoryPanel
from .policy_comparison import PolicyComparison
from .selector import LayerHeadSelector


class Dashboard(ipywidgets.VBox):
    """The linked SinkVis dashboard.

    Choosing a head in the selector shows it in the heatmap and simulates its KV cache; moving a slider
    re-runs the simulations and updates the strips, the heatmap's evicted cells and the memory panel.

    Parameters
    ----------
    session
        A :class:`sinkvis.SinkVis` with a captured forward pass.
    layer, head
        First head shown (default: last captured layer, first captured head).
    budget, sink_count
        Starting policy parameters.
    policies
        Policies shown at first (default: full, sliding_window, streaming_llm, h2o).
    highlight
        Policy whose evicted cells are greyed on the heatmap.
    scale
        ``"linear"`` or ``"log"``.
    max_cells
        Largest side of the pooled heatmap.
    sync_throttle_ms
        Throttle interval of slider messages.
    report
        An ``EvaluationReport`` (``sv.evaluate(...)``): its perplexities are shown beside the strips.

    Attributes
    ----------
    selector, heatmap, policies, memory
        The four components (each usable alone).
    """

    def __init__(
        self,
        session: Any,
        *,
        layer: int = -1,
        head: int | None = None,
        budget: int | None = None,
        sink_count: int = 4,
        policies: list[str] | None = None,
        highlight: str | None = None,
        scale: str = "linear",
        max_cells: int = 400,
        sync_throttle_ms: int = 80,
        report: Any = None,
    ) -> None:
        source = SessionSource(session)
        self.source = source
        self.selector = LayerHeadSelector(source, layer=layer, head=head)
        extra = {} if highlight is None else {"highlight": highlight}
        self.policies = PolicyComparison(
            source, budget=budget, sink_count=sink_count, selected=policies, layer=self.selector.layer,
            head=self.selector.head, sync_throttle_ms=sync_throttle_ms, report=report, **extra,
        )
        p = self.policies
        self.heatmap = AttentionHeatmap(
            source, layer=p.layer, head=p.head, policy=p.highlight, budget=p.budget,
            sink_count=p.sink_count, scale=scale, max_cells=max_cells,
        )
        self.memory = MemoryPanel(source, budget=p.budget)
        self._sync_memory()
        self.selector.observe(self._on_select, names=["layer", "head"])
        p.observe(self._on_results, names=["results"])
        p.observe(self._on_highlight, names=["highlight"])
        row = ipywidgets.Layout(flex_flow="row wrap", align_items="flex-start")
        super().__init__(
            [
                ipywidgets.HBox([self.selector, self.memory], layout=row),
                self.policies,
                self.heatmap,
            ]
        )
        self.add_class("sv-dashboard")

    def _on_select(self, change: Any = None) -> None:
        layer, head = self.selector.layer, self.selector.head
        with self.policies.hold_sync():
            self.policies.select(layer, head)
        self.heatmap.select(layer, head)

    def _on_results(self, change: Any = None) -> None:
        p = self.policies
        self.heatmap.set_policy(p.highlight, p.budget, p.sink_count)
        self._sync_memory()

    def _on_highlight(self, change: Any = None) -> None:
        p = self.policies
        self.heatmap.set_policy(p.highlight, p.budget, p.sink_count)

    def _sync_memory(self) -> None:
        rows = [
            {"policy": r["policy"], "kv_bytes": r["kv_bytes"]}
            for r in self.policies.results
            if r.get("kv_bytes") is not None
        ]
        self.memory.update(self.policies.budget, rows)

    def for_marimo(self) -> Any:
        """The same linked components laid out for marimo, which displays anywidgets but not ipywidgets boxes.

        ``sv.show()`` returns this automatically inside a running marimo notebook.
        """
        import marimo as mo

        wrap = mo.ui.anywidget
        return mo.vstack(
            [mo.hstack([wrap(self.selector), wrap(self.memory)], justify="start"), wrap(self.policies),
             wrap(self.heatmap)]
        )


def in_marimo() -> bool:
    """True inside a running marimo notebook."""
    import sys

    mo = sys.modules.get("marimo")
    if mo is None:
        return False
    try:
        return bool(mo.running_in_notebook())
    except Exception:  # an old marimo without running_in_notebook
        return False

