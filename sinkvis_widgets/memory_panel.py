"""MemoryPanel: KV-cache bytes, full vs budget per policy; capture bytes; process and device memory."""

from __future__ import annotations

from typing import Any

import traitlets

from ._base import STATIC, SinkVisWidget, check_int
from ._source import SessionSource


class MemoryPanel(SinkVisWidget):
    """KV-cache bytes of the full cache and of each policy under the budget, and the session's memory.

    Parameters
    ----------
    session
        A captured :class:`sinkvis.SinkVis` (or a :class:`~sinkvis_widgets._source.SessionSource`).
    budget
        Token budget of the cache (default: a quarter of the sequence, at least 8).
    per_policy
        ``[{"policy": name, "kv_bytes": int}, ...]``; the dashboard fills it from the policy comparison.
        Default: one row, the budgeted cache (``kv_cache_bytes_budget``).
    """

    _esm = STATIC / "memory_panel.js"

    stats = traitlets.Dict(read_only=True, help="sv.get_memory_stats(budget) as JSON values.").tag(sync=True)
    per_policy = traitlets.List(traitlets.Dict()).tag(sync=True)
    budget = traitlets.Int(64).tag(sync=True)

    def __init__(self, session: Any, *, budget: int | None = None, **kwargs: Any) -> None:
        source = session if isinstance(session, SessionSource) else SessionSource(session)
        self._source = source
        if budget is None:
            budget = min(source.seq_len, max(8, source.seq_len // 4))
        super().__init__(budget=budget, **kwargs)
        self._refresh()
        self.observe(self._changed, names=["budget"])

    @traitlets.validate("budget")
    def _valid_budget(self, proposal: Any) -> int:
        return check_int("budget", proposal["value"], minimum=1)

    @traitlets.validate("per_policy")
    def _valid_per_policy(self, proposal: Any) -> list[dict[str, Any]]:
        rows = list(proposal["value"])
        for row in rows:
            if not isinstance(row, dict) or "policy" not in row or "kv_bytes" not in row:
                raise traitlets.TraitError(f"per_policy rows need 'policy' and 'kv_bytes', got {row!r}")
        return rows

    def update(self, budget: int, per_policy: list[dict[str, Any]]) -> None:
        """Show a new budget and per-policy bytes (one refresh).

        Both traits are set first; the memory figures (``stats``) are recomputed once, if ``budget`` changed.

        Parameters
        ----------
        budget : int
            Token budget of the cache (>= 1).
        per_policy : list of dict
            ``[{"policy": name, "kv_bytes": int}, ...]``: each row needs the keys ``policy`` and ``kv_bytes``.

        Raises
        ------
        traitlets.TraitError
            ``budget`` is not an int >= 1, or a ``per_policy`` row lacks a key (``budget`` stays set then).
        """
        with self._batch():
            self.budget = budget
            self.per_policy = per_policy

    def _refresh(self) -> None:
        self.error = ""
        with self._reporting("memory"):
            stats = self._source.memory(budget=self.budget)
            self.set_trait("stats", stats)
            if not self.per_policy and stats.get("kv_cache_bytes_budget") is not None:
                self.per_policy = [{"policy": "budget", "kv_bytes": stats["kv_cache_bytes_budget"]}]
