"""`EvaluationReport`: the rows of a policy x budget sweep, as a table, a figure, CSV, JSON or a DataFrame."""

from __future__ import annotations

import csv
import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

COLUMNS = (
    "policy",
    "budget",
    "sink_count",
    "perplexity",
    "kl",
    "top1",
    "attention_recall",
    "attention_recall_worst",
    "kv_bytes",
    "seconds",
)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.4g}"
    return str(value)


class EvaluationReport:
    """What each eviction policy costs on one sequence: one row per (policy, budget).

    Attributes
    ----------
    rows
        List of dicts with at least ``policy, budget, sink_count, perplexity, kl, top1, attention_recall,
        kv_bytes`` (plus ``attention_recall_worst`` and ``seconds``). The ``full`` row has ``budget`` = T.
    seq_len
        Number of tokens evaluated.
    full_perplexity
        Perplexity of the plain full-cache forward pass.
    """

    def __init__(self, rows: Sequence[dict[str, Any]], *, seq_len: int, full_perplexity: float) -> None:
        self.rows: list[dict[str, Any]] = [dict(r) for r in rows]
        self.seq_len = int(seq_len)
        self.full_perplexity = float(full_perplexity)

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        return f"EvaluationReport({len(self.rows)} rows, seq_len={self.seq_len})\n" + self.to_text()

    @property
    def columns(self) -> list[str]:
        """Column names: the standard ones first, then any extra keys in order of appearance."""
        cols = [c for c in COLUMNS if any(c in r for r in self.rows)]
        for r in self.rows:
            cols.extend(k for k in r if k not in cols)
        return cols

    def get(self, policy: str, budget: int | None = None) -> dict[str, Any]:
        """One row of the report.

        Parameters
        ----------
        policy
            Policy name.
        budget
            Budget of the row; None when the policy has a single row (``full``).

        Returns
        -------
        dict[str, Any]
            The row itself (not a copy): ``policy``, ``budget``, ``sink_count`` and the measured figures.

        Raises
        ------
        KeyError
            When no row, or more than one, matches.
        """
        found = [r for r in self.rows if r["policy"] == policy and (budget is None or r["budget"] == budget)]
        if len(found) != 1:
            raise KeyError(f"no single row for policy={policy!r}, budget={budget!r} ({len(found)} match)")
        return found[0]

    def to_text(self) -> str:
        """A plain-text table."""
        cols = self.columns
        cells = [cols] + [[_fmt(r.get(c, "")) for c in cols] for r in self.rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
        return "\n".join("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=False)) for row in cells)

    def _repr_html_(self) -> str:
        cols = self.columns
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(c, '')))}</td>" for c in cols) + "</tr>" for r in self.rows
        )
        caption = f"SinkVis evaluation, T = {self.seq_len}, full-cache perplexity {self.full_perplexity:.4g}"
        return (
            f'<table class="sinkvis-evaluation"><caption>{html.escape(caption)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
        )

    def to_csv(self, path: str | Path) -> Path:
        """Write the rows as CSV.

        Parameters
        ----------
        path
            File to write (overwritten).

        Returns
        -------
        Path
            The path written.
        """
        path = Path(path)
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=self.columns)
            writer.writeheader()
            writer.writerows(self.rows)
        return path

    def to_json(self, path: str | Path | None = None) -> str:
        """The report as JSON: ``seq_len``, ``full_perplexity`` and ``rows``.

        Parameters
        ----------
        path
            Also write the JSON to this file when given.

        Returns
        -------
        str
            The JSON text.
        """
        text = json.dumps(
            {"seq_len": self.seq_len, "full_perplexity": self.full_perplexity, "rows": self.rows}, indent=2
        )
        if path is not None:
            Path(path).write_text(text)
        return text

    def to_dataframe(self) -> Any:
        """The rows as a ``pandas.DataFrame`` (needs pandas)."""
        try:
            import pandas as pd
        except ImportError as err:
            raise ImportError("to_dataframe() needs pandas: pip install pandas") from err
        return pd.DataFrame(self.rows, columns=self.columns)

    def plot(self, ax: Any = None, *, metric: str = "perplexity") -> Any:
        """Matplotlib figure of ``metric`` against budget, one line per policy.

        ``full`` is drawn as a horizontal reference line (see
        :func:`sinkvis.plotting.plot_perplexity_vs_budget`, which draws it).

        Parameters
        ----------
        ax
            Axes to draw into; a new figure when None.
        metric
            Row key on the y axis (default ``"perplexity"``; a log scale when the values span more than 20x).

        Returns
        -------
        matplotlib.figure.Figure
            The figure drawn into (``ax.figure`` when ``ax`` is given).
        """
        from ..plotting import plot_perplexity_vs_budget

        return plot_perplexity_vs_budget(
            self.rows, metric=metric, ax=ax, title=f"{metric.replace('_', ' ')} under eviction (T = {self.seq_len})"
        )
