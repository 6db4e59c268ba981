"""PolicyComparison: budget / sink_count sliders, policy checkboxes, and per policy a keep-mask strip
with its attention recall and KV bytes. Every change re-runs the simulation in Python."""

from __future__ import annotations

from typing import Any

import traitlets

from ._arrays import array_payload
from ._base import STATIC, SinkVisWidget, check_int
from ._source import SessionSource

DEFAULT_POLICIES = ("full", "sliding_window", "streaming_llm", "h2o")


class PolicyComparison(SinkVisWidget):
    """Compare eviction policies on the captured sequence, for the KV cache of one head.

    Parameters
    ----------
    session
        A captured :class:`sinkvis.SinkVis` (or a :class:`~sinkvis_widgets._source.SessionSource`).
    budget
        Most KV entries kept (default: a quarter of the sequence, at least 8).
    sink_count
        Sink tokens kept by policies that use them (default 4).
    selected
        Policies to show (default: full, sliding_window, streaming_llm, h2o — those registered).
    layer, head
        Whose KV cache attention-driven policies simulate, and whose attention the recall uses.
    sync_throttle_ms
        Slider messages to the kernel are throttled to one per interval, the last always sent.
    report
        An ``EvaluationReport`` from ``sv.evaluate(...)`` (or its ``rows``): rows matching a shown policy,
        budget and sink_count add its real-model ``perplexity``.

    Attributes
    ----------
    results : list of dict
        Per selected policy: ``policy, kept, attention_recall, recall_worst, kv_bytes, perplexity, error`` and
        ``keep_mask`` (uint8 ``[T]`` binary payload).
    highlight : str
        The policy whose evicted cells the dashboard greys on the heatmap.
    """

    _esm = STATIC / "policy_comparison.js"

    policies = traitlets.List(traitlets.Unicode(), read_only=True, help="Registered policies.").tag(sync=True)
    seq_len = traitlets.Int(0, read_only=True).tag(sync=True)
    results = traitlets.List(read_only=True).tag(sync=True)
    selected = traitlets.List(traitlets.Unicode()).tag(sync=True)
    budget = traitlets.Int(64).tag(sync=True)
    sink_count = traitlets.Int(4).tag(sync=True)
    highlight = traitlets.Unicode("").tag(sync=True)
    layer = traitlets.Int(0).tag(sync=True)
    head = traitlets.Int(0).tag(sync=True)
    sync_throttle_ms = traitlets.Int(80).tag(sync=True)

    def __init__(
        self,
        session: Any,
        *,
        budget: int | None = None,
        sink_count: int = 4,
        selected: list[str] | None = None,
        layer: int = -1,
        head: int | None = None,
        report: Any = None,
        **kwargs: Any,
    ) -> None:
        source = session if isinstance(session, SessionSource) else SessionSource(session)
        self._source = source
        self.kv_bytes_full: int | None = None
        self._report_rows = [dict(r) for r in (getattr(report, "rows", report) or [])]
        names = source.policies()
        if selected is None:
            selected = [p for p in DEFAULT_POLICIES if p in names] or names[:4]
        if budget is None:
            budget = min(source.seq_len, max(8, source.seq_len // 4))
        if isinstance(layer, int) and not isinstance(layer, bool) and layer < 0 and -layer <= len(source.layers):
            layer = source.layers[layer]
        if head is None:
            head = source.heads[0]
        highlight = kwargs.pop("highlight", None)
        if highlight is None:
            highlight = next((p for p in ("streaming_llm", "h2o") if p in selected), "")
        super().__init__(
            budget=budget, sink_count=sink_count, selected=list(selected), layer=layer, head=head,
            highlight=highlight, **kwargs,
        )
        self.set_trait("policies", names)
        self.set_trait("seq_len", source.seq_len)
        with self._reporting("memory"):
            self.kv_bytes_full = int(source.memory().get("kv_cache_bytes_full") or 0)
        self._refresh()
        self.observe(self._changed, names=["budget", "sink_count", "selected", "layer", "head"])

    # -- validation ------------------------------------------------------------------------------
    @traitlets.validate("budget")
    def _valid_budget(self, proposal: Any) -> int:
        return check_int("budget", proposal["value"], minimum=1)

    @traitlets.validate("sink_count")
    def _valid_sink_count(self, proposal: Any) -> int:
        return check_int("sink_count", proposal["value"], minimum=0)

    @traitlets.validate("sync_throttle_ms")
    def _valid_throttle(self, proposal: Any) -> int:
        return check_int("sync_throttle_ms", proposal["value"], minimum=0, maximum=5000)

    @traitlets.validate("layer")
    def _valid_layer(self, proposal: Any) -> int:
        value = check_int("layer", proposal["value"])
        try:
            return self._source.check_layer(value)
        except ValueError as err:
            raise traitlets.TraitError(str(err)) from None

    @traitlets.validate("head")
    def _valid_head(self, proposal: Any) -> int:
        value = check_int("head", proposal["value"])
        try:
            return self._source.check_head(value)
        except ValueError as err:
            raise traitlets.TraitError(str(err)) from None

    @traitlets.validate("selected")
    def _valid_selected(self, proposal: Any) -> list[str]:
        names = self._source.policies()
        value = list(proposal["value"])
        unknown = [p for p in value if p not in names]
        if unknown:
            raise traitlets.TraitError(f"unknown policies {unknown}; valid: {', '.join(names)}")
        return [p for p in names if p in value]  # registry order, no duplicates

    @traitlets.validate("highlight")
    def _valid_highlight(self, proposal: Any) -> str:
        value = proposal["value"]
        if value and value not in self._source.policies():
            raise traitlets.TraitError(f"unknown policy {value!r}; valid: {', '.join(self._source.policies())}")
        return value

    # -- Python API ------------------------------------------------------------------------------
    def select(self, layer: int, head: int) -> None:
        """Simulate for another head's cache (one refresh).

        Both traits are set first, then the policies are simulated once, if either changed.

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

    def result(self, policy: str) -> dict[str, Any] | None:
        """The numbers of one shown policy (without the keep mask), or None.

        Parameters
        ----------
        policy : str
            Policy name, one of those in ``selected``.

        Returns
        -------
        dict or None
            A copy of that policy's row of :attr:`results` without ``keep_mask`` (``policy, kept,
            attention_recall, recall_worst, kv_bytes, perplexity, error``); None when the policy is not shown.
        """
        for r in self.results:
            if r["policy"] == policy:
                return {k: v for k, v in r.items() if k != "keep_mask"}
        return None

    # -- simulation ------------------------------------------------------------------------------
    def _run(self, policy: str) -> dict[str, Any]:
        src = self._source
        row: dict[str, Any] = {"policy": policy, "kept": 0, "attention_recall": None, "recall_worst": None,
                               "kv_bytes": None, "perplexity": self._perplexity(policy), "error": "",
                               "keep_mask": None}
        try:
            sim = src.simulate(policy, self.budget, self.sink_count, self.layer, self.head)
            kept = int(sim.keep_mask.sum())
            row["kept"] = kept
            row["keep_mask"] = array_payload(sim.keep_mask, "uint8")
            if self.kv_bytes_full:
                row["kv_bytes"] = int(round(self.kv_bytes_full * kept / max(1, src.seq_len)))
            key = (policy, self.budget, self.sink_count)
            recall = src.recall(sim, self.layer, self.head, key)
            if recall is not None:
                row["attention_recall"], row["recall_worst"] = recall
        except Exception as err:  # noqa: BLE001 - shown in this policy's row
            row["error"] = str(err).strip() or type(err).__name__
        return row

    def _perplexity(self, policy: str) -> float | None:
        """Perplexity of the real model under this policy, budget and sink_count, if the report has it."""
        for row in self._report_rows:
            if row.get("policy") != policy:
                continue
            if policy != "full" and (  # the full cache does not depend on budget or sink_count
                row.get("budget") != self.budget or row.get("sink_count") not in (None, self.sink_count)
            ):
                continue
            value = row.get("perplexity")
            return None if value is None else float(value)
        return None

    def _refresh(self) -> None:
        self.error = ""
        with self._reporting("simulation"):
            rows = [self._run(p) for p in self.selected]
            self.set_trait("results", rows)
            failed = [r for r in rows if r["error"]]
            if failed and len(failed) == len(rows):
                self.error = failed[0]["error"]
