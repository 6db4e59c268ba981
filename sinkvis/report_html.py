"""The headless report behind ``sinkvis report``: figures, a summary and a self-contained HTML page.

:func:`build_report` takes a :class:`~sinkvis.SinkVis` session after a captured forward pass, finds sinks,
heavy hitters and head roles, evaluates the eviction policies on the real model, collects the memory figures
and draws the static plots. The :class:`Report` it returns prints as a plain-text summary
(:meth:`Report.summary_text`) and writes its PNG figures, a CSV/JSON of the numbers and a single
``report.html`` (figures embedded as base64 data URIs, inline CSS, nothing fetched from the network) with
:meth:`Report.write`.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import plotting
from .plotting import format_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from .analysis import AttentionFrame
    from .session import SinkVis

__all__ = [
    "POLICY_COLUMNS",
    "Report",
    "build_report",
    "figure_png",
    "render_report_html",
    "table_html",
    "table_text",
]

#: Heavy hitters printed in the text summary (all of them go to the HTML and JSON).
MAX_LISTED = 10

#: Tokens in the close-up attention figure of the report.
ZOOM_TOKENS = 48

#: Columns of the policy table: (row key, heading).
POLICY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("policy", "policy"),
    ("budget", "budget"),
    ("sink_count", "sinks"),
    ("perplexity", "perplexity"),
    ("kl", "KL"),
    ("top1", "top-1"),
    ("attention_recall", "attn recall"),
    ("kv_bytes", "KV bytes"),
)


def _format_cell(key: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if key == "kv_bytes":
        return format_bytes(value)
    if key in ("top1", "attention_recall", "attention_recall_worst", "sink_rate"):
        return f"{100 * float(value):.1f} %"
    if key == "kl":
        return f"{float(value):.4f}"
    if key == "perplexity":
        return f"{float(value):.2f}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table_text(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]] = POLICY_COLUMNS) -> str:
    """Plain-text table of ``rows`` (first column left-aligned, the others right-aligned).

    Parameters
    ----------
    rows : sequence of dict
        The rows, e.g. ``EvaluationReport.rows``.
    columns : sequence of (key, heading)
        Which keys to show, under which headings (default :data:`POLICY_COLUMNS`).

    Returns
    -------
    str
        The table, one line per row after a heading line and a rule.
    """
    cells = [[h for _, h in columns]] + [[_format_cell(k, r.get(k)) for k, _ in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]

    def line(row: list[str]) -> str:
        return "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths, strict=True)))

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(r) for r in cells[1:]])


def table_html(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]] = POLICY_COLUMNS) -> str:
    """HTML ``<table>`` of ``rows`` with every value escaped.

    Parameters
    ----------
    rows : sequence of dict
        The rows, e.g. ``EvaluationReport.rows``.
    columns : sequence of (key, heading)
        Which keys to show, under which headings (default :data:`POLICY_COLUMNS`).

    Returns
    -------
    str
        An HTML fragment.
    """
    text_keys = ("policy", "token")

    def cell(key: str, value: Any) -> str:
        text = html.escape(_format_cell(key, value))
        if key == "token":
            return f'<td class="l"><span class="tok">{text}</span></td>'
        return f'<td class="l">{text}</td>' if key in text_keys else f"<td>{text}</td>"

    head = "".join(f'<th{" class=l" if k in text_keys else ""}>{html.escape(h)}</th>' for k, h in columns)
    body = "".join("<tr>" + "".join(cell(k, r.get(k)) for k, _ in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def figure_png(fig: Figure, *, dpi: int = 110) -> bytes:
    """Render a matplotlib figure to PNG bytes.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    dpi : int, default 110
        Resolution.

    Returns
    -------
    bytes
        The PNG file's content.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


@dataclass
class Report:
    """Everything ``sinkvis report`` found on one sequence.

    Attributes
    ----------
    model_name : str
        The model, as named by the user.
    mode : str
        The capture mode, ``"full"`` or ``"stats"``.
    tokens : list of str
        Display strings of the captured tokens.
    num_layers, num_heads, num_kv_heads : int
        The model's shape.
    frame : AttentionFrame
        Sinks, heavy hitters and head roles.
    rows : list of dict
        The policy x budget rows of :meth:`SinkVis.evaluate`.
    full_perplexity : float
        Perplexity of the full-cache forward pass.
    memory : list of dict
        :meth:`SinkVis.get_memory_stats` once per budget.
    figures : dict of str to Figure
        Figure name (the PNG's file stem) to figure.
    attention_head : tuple of int or None
        ``(layer, head)`` shown in the attention figure (full mode only).
    notes : list of str
        Things left out, and why (e.g. figures that stats mode cannot draw).
    """

    model_name: str
    mode: str
    tokens: list[str]
    num_layers: int
    num_heads: int
    num_kv_heads: int
    frame: AttentionFrame
    rows: list[dict[str, Any]]
    full_perplexity: float
    memory: list[dict[str, Any]]
    figures: dict[str, Figure] = field(default_factory=dict)
    attention_head: tuple[int, int] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def seq_len(self) -> int:
        """Number of tokens ``T``."""
        return len(self.tokens)

    def sinks(self) -> list[dict[str, Any]]:
        """Sink tokens: ``position``, ``token`` and ``sink_rate``, highest rate first."""
        items = [
            {"position": p, "token": self.tokens[p], "sink_rate": float(self.frame.sink_rate[p])}
            for p in self.frame.sink_tokens
        ]
        return sorted(items, key=lambda d: -d["sink_rate"])

    def heavy_hitters(self) -> list[dict[str, Any]]:
        """Heavy hitters: ``position``, ``token`` and ``score`` (H2O accumulated attention, mean over heads)."""
        acc = self.frame.accumulated_attention
        return [{"position": p, "token": self.tokens[p], "score": float(acc[p])} for p in self.frame.heavy_hitters]

    def summary_dict(self) -> dict[str, Any]:
        """The numbers of the report as JSON-serialisable Python objects."""
        return {
            "model": self.model_name,
            "mode": self.mode,
            "seq_len": self.seq_len,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "num_kv_heads": self.num_kv_heads,
            "sinks": self.sinks(),
            "heavy_hitters": self.heavy_hitters(),
            "head_roles": self.frame.role_counts(),
            "full_perplexity": self.full_perplexity,
            "policies": self.rows,
            "memory": self.memory,
            "notes": self.notes,
        }

    def summary_text(self) -> str:
        """The plain-text summary that ``sinkvis report`` prints: sinks, heavy hitters, the policy table."""
        lines = [
            f"SinkVis report: {self.model_name}, {self.seq_len} tokens, mode={self.mode}, "
            f"{self.num_layers} layers x {self.num_heads} heads ({self.num_kv_heads} KV heads)",
            "",
            "Attention sinks (sink rate = share of heads in which the token is a sink):",
        ]
        sinks = self.sinks()
        lines += [f"  {d['position']:>5}  {d['token']!r:<16} {100 * d['sink_rate']:5.1f} %" for d in sinks]
        if not sinks:
            lines.append("  none found")
        hitters = self.heavy_hitters()
        lines.append("Heavy hitters (H2O accumulated attention, mean over layers and heads):")
        lines += [f"  {d['position']:>5}  {d['token']!r:<16} {d['score']:.3f}" for d in hitters[:MAX_LISTED]]
        if len(hitters) > MAX_LISTED:
            lines.append(f"  ... {len(hitters)} in all (see summary.json and report.html)")
        roles = ", ".join(f"{k} {v}" for k, v in self.frame.role_counts().items())
        lines += [f"Head roles: {roles}", ""]
        lines.append(f"Eviction policies on the real model (full-cache perplexity {self.full_perplexity:.2f}):")
        lines.append(table_text(_display_rows(self.rows)))
        lines += ["", "Memory:"]
        lines += ["  " + line for line in _memory_lines(self.memory)]
        if self.notes:
            lines += [""] + [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    def write(self, out_dir: str | Path, *, dpi: int = 110) -> list[Path]:
        """Write the figures (PNG), ``report.html``, ``policies.csv`` and ``summary.json`` into ``out_dir``.

        Parameters
        ----------
        out_dir : str or Path
            Folder to write into (created if missing).
        dpi : int, default 110
            Resolution of the PNG figures.

        Returns
        -------
        list of Path
            The files written, ``report.html`` first.
        """
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        pngs = {name: figure_png(fig, dpi=dpi) for name, fig in self.figures.items()}
        written = [out / "report.html"]
        written[0].write_text(render_report_html(self, pngs), encoding="utf-8")
        for name, data in pngs.items():
            path = out / f"{name}.png"
            path.write_bytes(data)
            written.append(path)
        csv_path = out / "policies.csv"
        _write_csv(csv_path, self.rows)
        json_path = out / "summary.json"
        json_path.write_text(json.dumps(self.summary_dict(), indent=2, default=_json_default), encoding="utf-8")
        return written + [csv_path, json_path]


def _display_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows for the tables: ``sink_count`` blanked for policies that keep no sinks."""
    from .simulation import get_policy

    out = []
    for row in rows:
        row = dict(row)
        try:
            if not get_policy(str(row["policy"])).uses_sinks:
                row["sink_count"] = None
        except (KeyError, ValueError):
            pass
        out.append(row)
    return out


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _write_csv(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    import csv

    columns: list[str] = []
    for r in rows:
        columns.extend(k for k in r if k not in columns)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _memory_lines(memory: Sequence[Mapping[str, Any]]) -> list[str]:
    if not memory:
        return []
    first = memory[0]
    lines = [f"KV cache, full ({first.get('seq_len', '?')} tokens): {format_bytes(first['kv_cache_bytes_full'])}"]
    for m in memory:
        if m.get("kv_cache_bytes_budget") is not None:
            saved = 100 * float(m.get("kv_cache_saving_ratio", 0.0))
            lines.append(
                f"KV cache, budget {m.get('budget')}: {format_bytes(m['kv_cache_bytes_budget'])} ({saved:.1f} % saved)"
            )
    lines.append(f"SinkVis capture: {format_bytes(first['capture_bytes'])}")
    lines.append(
        f"process RSS: {format_bytes(first['process_rss_bytes'])} "
        f"(peak {format_bytes(first['process_peak_rss_bytes'])}), device {first.get('device')}"
    )
    if first.get("cuda_allocated_bytes") is not None:
        lines.append(
            f"CUDA allocated {format_bytes(first['cuda_allocated_bytes'])}, reserved "
            f"{format_bytes(first['cuda_reserved_bytes'])}, peak {format_bytes(first['cuda_peak_bytes'])}"
        )
    return lines


# ------------------------------------------------------------------------------------------ building


def _pick_head(frame: AttentionFrame) -> tuple[int, int]:
    """(layer, head) of the last captured layer's head with the largest sink mass."""
    masses = frame.head_sink_mass[-1]
    j = int(masses.argmax()) if masses.size else 0
    return int(frame.layers[-1]), int(frame.heads[j])


def build_report(
    sv: SinkVis,
    *,
    model_name: str = "model",
    policies: Sequence[str] | None = None,
    budgets: Sequence[int] | None = None,
    sink_count: int = 4,
    progress: bool = True,
) -> Report:
    """Analyse a captured sequence, evaluate eviction policies on the real model and draw the figures.

    Parameters
    ----------
    sv : SinkVis
        A session after a captured forward pass of a transformers causal LM (its ``with`` block exited).
    model_name : str, default "model"
        How the report names the model.
    policies : sequence of str, optional
        Policies to compare (default: every registered policy).
    budgets : sequence of int, optional
        Cache budgets (default: T/8, T/4 and T/2, as :func:`sinkvis.evaluation.evaluate` picks them).
    sink_count : int, default 4
        Sink tokens kept by the policies that keep sinks.
    progress : bool, default True
        Show progress bars (evaluation sweep, figures).

    Returns
    -------
    Report
        The findings and figures; print :meth:`Report.summary_text`, save with :meth:`Report.write`.

    Raises
    ------
    ValueError
        Unknown policy, bad budget or sink count (from the library's own checks).
    """
    from tqdm.auto import tqdm

    frame = sv.analyze_attention()
    evaluation = sv.evaluate(policies=policies, budgets=budgets, sink_count=sink_count, progress=progress)
    rows = [dict(r) for r in evaluation.rows]
    budget_list = sorted({int(r["budget"]) for r in rows if r["policy"] != "full"})
    memory = [sv.get_memory_stats(budget=b) for b in budget_list] or [sv.get_memory_stats()]
    tokens = list(sv.tokens)
    report = Report(
        model_name=model_name,
        mode=sv.mode,
        tokens=tokens,
        num_layers=sv.num_layers,
        num_heads=sv.num_heads,
        num_kv_heads=sv.num_kv_heads,
        frame=frame,
        rows=rows,
        full_perplexity=float(evaluation.full_perplexity),
        memory=memory,
    )

    steps = ["attention", "sink_rate", "head_roles", "occupancy", "perplexity", "attention_recall", "memory"]
    bar = tqdm(steps, desc="sinkvis figures", disable=not progress, leave=False)
    for step in bar:
        bar.set_postfix_str(step)
        if step == "attention":
            if sv.mode != "full":
                report.notes.append("mode=stats keeps no attention matrices: no attention heatmap")
                continue
            layer, head = _pick_head(frame)
            report.attention_head = (layer, head)
            attention = sv.attention(layer, head)
            report.figures["attention"] = plotting.plot_attention(
                attention,
                tokens,
                sink_tokens=frame.sink_tokens,
                heavy_hitters=frame.heavy_hitters,
                log=True,
                title=f"Attention, layer {layer} head {head} (log scale)",
            )
            n = min(len(tokens), ZOOM_TOKENS)
            if n < len(tokens):  # the first queries' rows are complete: a readable close-up with token labels
                report.figures["attention_start"] = plotting.plot_attention(
                    attention[:n, :n],
                    tokens[:n],
                    sink_tokens=[p for p in frame.sink_tokens if p < n],
                    heavy_hitters=[p for p in frame.heavy_hitters if p < n],
                    title=f"Layer {layer} head {head}, the first {n} tokens",
                )
        elif step == "sink_rate":
            report.figures["sink_rate"] = plotting.plot_sink_rate(
                frame.sink_rate, tokens, threshold=frame.params.get("min_sink_rate")
            )
        elif step == "head_roles":
            report.figures["head_roles"] = plotting.plot_head_roles(
                frame.head_sink_mass, frame.head_role_names, layers=frame.layers
            )
        elif step == "occupancy":
            fig = _occupancy_figure(sv, report, rows, sink_count)
            if fig is not None:
                report.figures["occupancy"] = fig
        elif step in ("perplexity", "attention_recall"):
            if any(r["policy"] != "full" for r in rows):
                report.figures[step] = plotting.plot_perplexity_vs_budget(
                    rows, metric=step, full_perplexity=None if step == "perplexity" else 1.0
                )
        elif step == "memory":
            report.figures["memory"] = plotting.plot_memory(memory)
    bar.close()
    return report


def _occupancy_figure(sv: SinkVis, report: Report, rows: list[dict[str, Any]], sink_count: int) -> Figure | None:
    """Keep-mask strips of every evaluated policy at the smallest budget that evicts anything."""
    evicting = sorted({int(r["budget"]) for r in rows if r["policy"] != "full" and r["budget"] < report.seq_len})
    if not evicting:
        return None
    budget = evicting[0]
    masks = {}
    for policy in dict.fromkeys(r["policy"] for r in rows):
        try:
            masks[policy] = sv.simulate_policy(policy, budget, sink_count=sink_count)
        except ValueError as err:
            report.notes.append(f"no keep-mask strip for {policy}: {err}")
    if not masks:
        return None
    return plotting.plot_occupancy(
        masks,
        report.tokens,
        title=f"KV cache after the last token, budget {budget} (simulated from the capture, all layers pooled)",
    )


# -------------------------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:0;background:#f6f7f9;color:#1d2329}
main{max-width:1100px;margin:0 auto;padding:24px 32px 64px;background:#fff;min-height:100vh}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.2em;margin:32px 0 8px;border-bottom:1px solid #e2e5e9;
padding-bottom:4px}.meta{color:#5b6570;margin:0 0 16px}
table{border-collapse:collapse;font-size:0.9em;margin:8px 0}th,td{padding:4px 10px;text-align:right;
border-bottom:1px solid #e8eaed}th{background:#f0f2f5}.l{text-align:left}
code,.tok{font-family:SFMono-Regular,Menlo,Consolas,monospace;background:#f0f2f5;padding:1px 4px;
border-radius:3px}figure{margin:16px 0}figure img{max-width:100%;height:auto;border:1px solid #eceef1}
figcaption{color:#5b6570;font-size:0.9em}.note{color:#8a5a00}ul{margin:4px 0}
"""

_CAPTIONS = {
    "attention": "Attention of the last layer's head with the most attention on sinks (log colour scale). "
    "Red markers: sink tokens; orange: heavy hitters.",
    "attention_start": "The same head over the first tokens, linear colour scale, with the token strings.",
    "sink_rate": "Share of all captured heads in which each token is an attention sink (alpha > eps).",
    "head_roles": "Each head's share of attention on the sink tokens, with its role letter.",
    "occupancy": "Which tokens each policy keeps in the cache after the last token.",
    "perplexity": "Perplexity of the real model with each layer's cache evicted by the policy.",
    "attention_recall": "Share of the full-cache attention mass that falls on cached keys.",
    "memory": "KV-cache bytes (full and per budget), the capture, and the process.",
}


def render_report_html(report: Report, pngs: Mapping[str, bytes] | None = None) -> str:
    """The report as one self-contained HTML page.

    Figures are embedded as ``data:image/png;base64`` URIs and the CSS is inline, so the file opens offline
    and fetches nothing.

    Parameters
    ----------
    report : Report
        What :func:`build_report` returned.
    pngs : mapping of str to bytes, optional
        Pre-rendered PNG bytes per figure name (rendered from ``report.figures`` when omitted).

    Returns
    -------
    str
        The HTML document.
    """
    if pngs is None:
        pngs = {name: figure_png(fig) for name, fig in report.figures.items()}
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>SinkVis report: {esc(report.model_name)}</title>",
        f"<style>{_CSS}</style></head><body><main>",
        "<h1>SinkVis report</h1>",
        f'<p class="meta">{esc(report.model_name)} · {report.seq_len} tokens · mode={esc(report.mode)} · '
        f"{report.num_layers} layers × {report.num_heads} heads ({report.num_kv_heads} KV heads)</p>",
        "<h2>Attention sinks</h2>",
        table_html(report.sinks(), (("position", "position"), ("token", "token"), ("sink_rate", "sink rate")))
        if report.sinks()
        else "<p>No sink token found.</p>",
        "<h2>Heavy hitters</h2>",
        table_html(report.heavy_hitters(), (("position", "position"), ("token", "token"), ("score", "accumulated"))),
        "<p>Head roles: " + ", ".join(f"{esc(k)} {v}" for k, v in report.frame.role_counts().items()) + "</p>",
        "<h2>Eviction policies on the real model</h2>",
        f"<p>Full-cache perplexity {report.full_perplexity:.2f}. Each row is one forward pass in which every "
        "layer attends only to the keys its cache would hold; positions are the original ones.</p>",
        table_html(_display_rows(report.rows)),
        "<h2>Memory</h2><ul>",
        *[f"<li>{esc(line)}</li>" for line in _memory_lines(report.memory)],
        "</ul>",
    ]
    if pngs:
        parts.append("<h2>Figures</h2>")
    for name, data in pngs.items():
        uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
        caption = _CAPTIONS.get(name, name)
        parts.append(
            f'<figure id="fig-{esc(name)}"><img alt="{esc(name)}" src="{uri}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>"
        )
    if report.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f'<li class="note">{esc(n)}</li>' for n in report.notes))
        parts.append("</ul>")
    parts.append("</main></body></html>")
    return "\n".join(parts)
