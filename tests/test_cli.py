"""The ``sinkvis`` console script, run as a user runs it: through the installed entry point."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

SINKVIS = shutil.which("sinkvis")
# the console script lives beside the interpreter running the tests (an editable install puts it there)
if SINKVIS is None:
    pytest.fail(
        "the `sinkvis` console script is not on PATH: install the project with `pip install -e .`",
        pytrace=False,
    )

TIMEOUT = 300


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([SINKVIS, *args], capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd, env=_env())


def _env() -> dict:
    import os

    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env["PYTHONWARNINGS"] = "ignore"
    return env


def screen_lines(stream: str) -> list[str]:
    """What a terminal shows: for each line, the text after the last carriage return; blank lines dropped."""
    return [part.split("\r")[-1].strip() for part in stream.split("\n") if part.split("\r")[-1].strip()]


def assert_one_line_error(proc: subprocess.CompletedProcess, status: int, *needles: str) -> str:
    assert proc.returncode == status, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = screen_lines(proc.stderr)
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert "error" in line
    for needle in needles:
        assert needle in line, line
    return line


def policies() -> list[str]:
    proc = run("policies")
    assert proc.returncode == 0, proc.stderr
    return [line.split()[0] for line in proc.stdout.splitlines() if line.strip()]


# ------------------------------------------------------------------------------------------- help


def test_help_documents_every_option():
    top = run("--help")
    assert top.returncode == 0
    assert "report" in top.stdout and "policies" in top.stdout
    proc = run("report", "--help")
    assert proc.returncode == 0
    for option in ("--out", "--model", "--text", "--budget", "--sink-count", "--policies", "--max-tokens", "--mode"):
        assert option in proc.stdout, option
    assert "smollm2" in proc.stdout


def test_no_command_prints_usage_and_fails():
    proc = run()
    assert proc.returncode == 2
    assert "usage: sinkvis" in proc.stderr and "Traceback" not in proc.stderr


def test_policies_lists_the_builtins():
    names = policies()
    for name in ("full", "sliding_window", "streaming_llm", "lru", "h2o"):
        assert name in names


# ----------------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--budget", "0"], ["--budget", ">= 1"]),
        (["--budget", "ten"], ["--budget", "integer"]),
        (["--max-tokens", "-3"], ["--max-tokens"]),
        (["--sink-count", "-1"], ["--sink-count"]),
        (["--mode", "turbo"], ["--mode", "turbo"]),
        (["--policies", "nope"], ["nope", "streaming_llm", "h2o"]),
        (["--policies", ","], ["--policies"]),
        (["--budget", "8", "--sink-count", "8"], ["--sink-count", "--budget"]),
        (["--text", "no/such/file.txt"], ["--text", "no/such/file.txt"]),
        (["--frobnicate"], ["--frobnicate"]),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, args, needles):
    proc = run("report", "--out", str(tmp_path / "out"), *args)
    assert_one_line_error(proc, 2, *needles)
    assert not (tmp_path / "out" / "report.html").exists()


def test_out_must_be_a_folder(tmp_path):
    not_a_folder = tmp_path / "file.txt"
    not_a_folder.write_text("x")
    proc = run("report", "--out", str(not_a_folder))
    assert_one_line_error(proc, 2, "--out", "not a folder")


def test_empty_text_file_is_refused(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("   \n")
    proc = run("report", "--out", str(tmp_path / "out"), "--text", str(empty))
    assert_one_line_error(proc, 2, "empty")


@pytest.mark.parametrize("model", ["{tmp}/no-such-model", "nobody-here/no-such-model-xyz"])
def test_missing_model_exits_1_with_one_line(tmp_path, model):
    model = model.format(tmp=tmp_path)
    proc = run("report", "--out", str(tmp_path / "out"), "--model", model, "--max-tokens", "16")
    line = assert_one_line_error(proc, 1, "no-such-model")
    assert "smollm2" in line  # it says what would work
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------- the main job


@pytest.fixture(scope="module")
def report_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    text = tmp_path_factory.mktemp("text") / "text.txt"
    from sinkvis.text import SAMPLE_TEXT

    text.write_text(SAMPLE_TEXT)
    proc = run(
        "report",
        "--out",
        str(out),
        "--text",
        str(text),
        "--max-tokens",
        "160",
        "--budget",
        "32",
        "--sink-count",
        "4",
    )
    return proc, out


@pytest.mark.slow
def test_report_succeeds_and_prints_the_summary(report_run):
    proc, out = report_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    stdout = proc.stdout
    assert "160 tokens" in stdout
    # sinks: the first token is the sink of this model
    sinks = stdout.split("Attention sinks")[1].split("Heavy hitters")[0]
    assert re.search(r"^\s+0\s", sinks, re.MULTILINE), sinks
    assert "Heavy hitters" in stdout
    # the policy table lists every registered policy, with perplexity, attention recall and KV bytes
    table = stdout.split("Eviction policies")[1].split("Memory:")[0]
    header = table.splitlines()[1]
    for column in ("policy", "budget", "perplexity", "attn recall", "KV bytes"):
        assert column in header
    table_policies = {line.split()[0] for line in table.splitlines()[3:] if line.strip()}
    assert table_policies == set(policies())
    assert "KV cache, full" in stdout and "KV cache, budget 32" in stdout
    assert "report.html" in stdout


@pytest.mark.slow
def test_report_writes_figures_and_data(report_run):
    proc, out = report_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in (
        "report.html",
        "attention.png",
        "attention_start.png",
        "sink_rate.png",
        "head_roles.png",
        "occupancy.png",
        "perplexity.png",
        "attention_recall.png",
        "memory.png",
        "policies.csv",
        "summary.json",
    ):
        path = out / name
        assert path.is_file() and path.stat().st_size > 100, name
    assert (out / "attention.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seq_len"] == 160
    assert summary["sinks"][0]["position"] == 0
    rows = summary["policies"]
    assert {r["policy"] for r in rows} == set(policies())
    assert {r["budget"] for r in rows if r["policy"] != "full"} == {32}
    full = next(r for r in rows if r["policy"] == "full")
    window = next(r for r in rows if r["policy"] == "sliding_window" and r["budget"] == 32)
    stream = next(r for r in rows if r["policy"] == "streaming_llm" and r["budget"] == 32)
    assert window["perplexity"] > stream["perplexity"] >= full["perplexity"] * 0.99
    assert (out / "policies.csv").read_text().splitlines()[0].startswith("policy,budget")


@pytest.mark.slow
def test_report_html_is_self_contained(report_run):
    proc, out = report_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    page = (out / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    # nothing is fetched: no http(s) or protocol-relative src/href, no external stylesheet or script
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.IGNORECASE)
    assert "<script" not in page.lower() and "<link" not in page.lower() and "@import" not in page
    images = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(images) >= 8 and all(src.startswith("data:image/png;base64,") for src in images)
    for policy in policies():
        assert f'<td class="l">{policy}</td>' in page


@pytest.mark.slow
def test_report_stats_mode_on_builtin_text(tmp_path):
    out = tmp_path / "stats"
    proc = run(
        "report",
        "--out",
        str(out),
        "--mode",
        "stats",
        "--max-tokens",
        "96",
        "--budget",
        "24",
        "--policies",
        "full,streaming_llm,sliding_window",
        "--no-progress",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "mode=stats" in proc.stdout
    assert (out / "sink_rate.png").is_file() and (out / "report.html").is_file()
    assert not (out / "attention.png").exists()  # stats mode keeps no matrices, and says so
    assert "no attention heatmap" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_module_entry_point_matches_console_script():
    proc = subprocess.run(
        [sys.executable, "-m", "sinkvis.cli", "--version"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and proc.stdout.startswith("sinkvis ")
