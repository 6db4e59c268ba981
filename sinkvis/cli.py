"""The ``sinkvis`` command line.

``sinkvis report --out DIR`` runs the main job headless: load a model (the embedded SmolLM2 by default),
capture the attention of one pass over a text (a built-in English text by default), find attention sinks,
heavy hitters and head roles, evaluate the eviction policies on the real model (perplexity, KL, top-1,
attention recall, KV bytes), collect the memory figures, print a summary and write PNG figures and a
self-contained ``report.html`` into DIR. ``sinkvis policies`` lists the registered eviction policies.

Errors are reported as one line on stderr: bad arguments exit with status 2, failures to load the model or
run the job with status 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["CLIError", "build_parser", "main", "run_policies", "run_report"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


class CLIError(Exception):
    """A failure reported as one line on stderr, with an exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.status = status


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _policy_list(text: str) -> list[str]:
    names = [p.strip() for p in text.split(",") if p.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one policy name, e.g. full,streaming_llm,h2o")
    return list(dict.fromkeys(names))


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``sinkvis report: error: ...``) and exit status 2."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``sinkvis`` command.

    Returns
    -------
    argparse.ArgumentParser
        The parser, with the ``report`` and ``policies`` sub-commands.
    """
    from . import __version__

    parser = _Parser(
        prog="sinkvis",
        description="See attention sinks and measure what a KV-cache eviction policy throws away.",
        epilog="Run 'sinkvis report --help' for the options of the main job.",
    )
    parser.add_argument("--version", action="version", version=f"sinkvis {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    report = sub.add_parser(
        "report",
        help="capture, find sinks, compare eviction policies on the real model, write figures + HTML",
        description=textwrap.fill(
            "Run one forward pass of a model over a text with SinkVis: find attention sinks, heavy hitters and "
            "head roles, evaluate each eviction policy on the real model (perplexity, KL to the full cache, "
            "top-1 agreement, attention recall, KV bytes) and the memory figures; print a summary and write PNG "
            "figures, policies.csv, summary.json and a self-contained report.html into --out."
        ),
        epilog=(
            "examples:\n"
            "  sinkvis report --out report\n"
            "  sinkvis report --max-tokens 256 --budget 32 64 --policies full,streaming_llm,h2o --out small\n"
            "  sinkvis report --text paper.txt --mode stats --max-tokens 4096 --budget 256 --out long\n"
            "exit status: 0 done, 1 the model or the run failed, 2 bad arguments"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument(
        "--out", type=Path, default=Path("report"), help="output folder, created if missing (default: report)"
    )
    report.add_argument(
        "--model",
        default="smollm2",
        metavar="PATH_OR_HUB_ID",
        help="'smollm2' (default: the embedded SmolLM2-135M-Instruct, offline), a local model folder, or a "
        "hub id (a transformers causal LM)",
    )
    report.add_argument(
        "--text", type=Path, default=None, metavar="FILE", help="UTF-8 text file (default: a built-in text)"
    )
    report.add_argument(
        "--max-tokens",
        type=_positive_int,
        default=512,
        metavar="N",
        help="use the first N tokens of the text (default: 512)",
    )
    report.add_argument(
        "--budget",
        type=_positive_int,
        nargs="+",
        default=None,
        metavar="B",
        help="KV-cache budget(s): most tokens kept (default: T/8, T/4 and T/2)",
    )
    report.add_argument(
        "--sink-count",
        type=_non_negative_int,
        default=4,
        metavar="S",
        help="sink tokens kept by the policies that keep sinks (default: 4)",
    )
    report.add_argument(
        "--policies",
        type=_policy_list,
        default=None,
        metavar="A,B,...",
        help="comma-separated eviction policies (default: all registered; see 'sinkvis policies')",
    )
    report.add_argument(
        "--mode",
        choices=("full", "stats"),
        default="full",
        help="capture full attention matrices (default), or linear-memory statistics only (long texts)",
    )
    report.add_argument("--dpi", type=_positive_int, default=110, help="resolution of the PNG figures (default: 110)")
    report.add_argument(
        "--no-progress", action="store_true", help="hide the progress bars (shown only when stderr is a terminal)"
    )
    report.add_argument("--debug", action="store_true", help="show the full traceback of an error")

    sub.add_parser(
        "policies",
        help="list the registered eviction policies",
        description="List the registered eviction policies (built-ins first, then your own).",
    )
    return parser


def _read_text(path: Path | None) -> str:
    if path is None:
        from .text import SAMPLE_TEXT

        return SAMPLE_TEXT
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CLIError(f"--text: no such file: {path}", EXIT_USAGE) from None
    except (OSError, UnicodeDecodeError) as err:
        raise CLIError(f"--text: cannot read {path}: {err}", EXIT_USAGE) from None
    if not text.strip():
        raise CLIError(f"--text: {path} is empty", EXIT_USAGE)
    return text


def _check_policies(names: list[str] | None) -> list[str] | None:
    if names is None:
        return None
    from .simulation import list_policies

    valid = list_policies()
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise CLIError(f"--policies: unknown policy {unknown[0]!r}; valid: {', '.join(valid)}", EXIT_USAGE)
    return names


def _check_budgets(budgets: list[int] | None, sink_count: int, policies: list[str] | None) -> None:
    if budgets is None:
        return
    from .simulation import get_policy, list_policies

    uses_sinks = [p for p in (policies or list_policies()) if get_policy(p).uses_sinks]
    smallest = min(budgets)
    if uses_sinks and sink_count >= smallest:
        raise CLIError(
            f"--sink-count {sink_count} must be smaller than the smallest --budget {smallest} "
            f"(the current token needs a slot; policies using sinks: {', '.join(uses_sinks)})",
            EXIT_USAGE,
        )


def _quiet_libraries() -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover - the model loader reports the missing extra
        pass


def _run_steps(args: argparse.Namespace, text: str, policies: list[str] | None, steps: Any, progress: bool) -> Any:
    """Load the model, capture one pass, analyse and evaluate: the :class:`~sinkvis.report_html.Report`."""
    steps.set_postfix_str(f"loading model {args.model}")
    from .models import ModelNotAvailableError, load_model

    try:
        model, tokenizer = load_model(args.model)
    except ModelNotAvailableError as err:
        raise CLIError(str(err)) from None
    steps.update()

    import torch

    from .report_html import build_report
    from .session import SinkVis

    steps.set_postfix_str("capturing attention")
    ids = tokenizer(text, return_tensors="pt")["input_ids"][:, : args.max_tokens]
    if ids.shape[1] < 2:
        raise CLIError(f"the text has {ids.shape[1]} token(s); at least 2 are needed", EXIT_USAGE)
    with SinkVis(model, tokenizer, mode=args.mode) as sv, torch.no_grad():
        model(input_ids=ids)
    steps.update()

    steps.set_postfix_str("evaluating policies")
    report = build_report(
        sv,
        model_name=args.model,
        policies=policies,
        budgets=args.budget,
        sink_count=args.sink_count,
        progress=progress,
    )
    steps.update(2)
    return report


def run_report(args: argparse.Namespace) -> int:
    """Run ``sinkvis report`` with parsed arguments; returns the exit status.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments of :func:`build_parser`'s ``report`` sub-command.

    Returns
    -------
    int
        0 on success.

    Raises
    ------
    CLIError
        Bad arguments (status 2) or a model that cannot be loaded (status 1).
    """
    import matplotlib

    matplotlib.use("Agg")  # headless: never open a window
    from tqdm.auto import tqdm

    if args.out.exists() and not args.out.is_dir():
        raise CLIError(f"--out: {args.out} exists and is not a folder", EXIT_USAGE)
    text = _read_text(args.text)
    policies = _check_policies(args.policies)
    _check_budgets(args.budget, args.sink_count, policies)
    _quiet_libraries()
    progress = not args.no_progress and sys.stderr.isatty()  # bars only where a terminal redraws them
    model_path = Path(args.model).expanduser()
    looks_like_path = args.model.startswith(("/", ".", "~")) or "\\" in args.model  # hub ids are "org/name"
    if looks_like_path and not model_path.exists():
        raise CLIError(
            f"--model: no such folder: {args.model} (give a local model folder, a hub id, or 'smollm2' for the "
            "embedded model)"
        )
    steps = tqdm(total=5, desc="sinkvis report", disable=not progress, unit="step", file=sys.stderr, leave=False)
    started = time.perf_counter()
    try:
        report = _run_steps(args, text, policies, steps, progress)
        steps.set_postfix_str(f"writing {args.out}")
        written = report.write(args.out, dpi=args.dpi)
        steps.update()
    finally:
        steps.close()  # clears the bar, also before an error message

    print(report.summary_text())
    print()
    names = ", ".join(p.name for p in written)
    print(f"Wrote {len(written)} files to {args.out}: {names}")
    print(
        f"Open {args.out / 'report.html'} in a browser (it works offline). Took {time.perf_counter() - started:.1f} s."
    )
    return EXIT_OK


def run_policies() -> int:
    """Print the registered eviction policies, one per line; returns 0."""
    from .simulation import get_policy, list_policies

    for name in list_policies():
        print(f"{name:<16} {get_policy(name).description}".rstrip())
    return EXIT_OK


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 400 else text[:397] + "..."


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``sinkvis`` console script.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success, 1 when the job fails (e.g. a model that cannot be loaded), 2 for bad
        arguments.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    debug = getattr(args, "debug", False)
    try:
        if args.command == "report":
            return run_report(args)
        return run_policies()
    except CLIError as err:
        print(f"sinkvis {args.command}: error: {_one_line(err)}", file=sys.stderr)
        return err.status
    except KeyboardInterrupt:
        print("sinkvis: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # never a traceback for the user; --debug shows it
        if debug:
            raise
        print(f"sinkvis {args.command}: error: {type(err).__name__}: {_one_line(err)}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
