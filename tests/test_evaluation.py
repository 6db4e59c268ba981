"""evaluate() on tiny random GPT-2 / Llama models (eager and sdpa): exactness, restoring, the report, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface

from sinkvis.evaluation import EvaluationMemoryError, EvaluationReport, evaluate, forward
from sinkvis.evaluation.metrics import perplexity
from sinkvis.evaluation.reference import REFERENCE_POLICIES, decode_with_evicting_cache
from sinkvis.simulation import register_policy, run_policy, unregister_policy

KINDS = [("llama", "eager"), ("llama", "sdpa"), ("gpt2", "eager"), ("gpt2", "sdpa")]
REQUIRED = {"policy", "budget", "sink_count", "perplexity", "kl", "top1", "attention_recall", "kv_bytes"}


def _registrations() -> set[str]:
    return set(AttentionInterface._global_mapping) | set(AttentionMaskInterface._global_mapping)


def _hooks(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.mark.parametrize(("kind", "impl"), KINDS)
def test_full_equals_plain_forward_and_everything_is_restored(make_tiny, tiny_ids, kind, impl):
    model = make_tiny(kind, impl)
    before = _registrations()
    with torch.no_grad():
        plain = model(tiny_ids)
    report = evaluate(model, tiny_ids, policies=["full", "streaming_llm", "h2o"], budgets=[8], progress=False)
    full = report.get("full")
    assert full["perplexity"] == perplexity(plain.logits, tiny_ids)
    with torch.no_grad():
        loss = float(model(tiny_ids, labels=tiny_ids).loss)
    assert full["perplexity"] == pytest.approx(math.exp(loss), rel=1e-6)
    assert full["kl"] == 0 and full["top1"] == 1 and full["budget"] == tiny_ids.shape[1]
    assert model.config._attn_implementation == impl
    assert _registrations() == before
    assert _hooks(model) == 0
    with torch.no_grad():
        assert torch.equal(model(tiny_ids).logits, plain.logits)


# mask-only policies run on torch's fused CPU kernel, or chunk by chunk without it; the others always chunk
PATHS = [
    (policy, path)
    for policy in REFERENCE_POLICIES[1:]
    for path in (("fused", "chunked") if policy in ("sliding_window", "streaming_llm") else ("chunked",))
]


@pytest.mark.parametrize(("kind", "impl"), KINDS)
@pytest.mark.parametrize(("policy", "path"), PATHS)
def test_single_pass_equals_a_real_evicting_cache(make_tiny, tiny_ids, kind, impl, policy, path, monkeypatch):
    if path == "chunked":
        monkeypatch.setattr(forward, "_fused_kernel", lambda: None)
    model = make_tiny(kind, impl)
    report = evaluate(model, tiny_ids, policies=[policy], budgets=[7], sink_count=2, progress=False)
    ref = decode_with_evicting_cache(model, tiny_ids, policy, 7, sink_count=2)
    assert report.get(policy, 7)["perplexity"] == pytest.approx(ref.perplexity, rel=1e-5)
    assert model.config._attn_implementation == impl


@pytest.mark.parametrize(("kind", "impl"), KINDS)
def test_fixed_policy_equals_its_occupancy_as_a_4d_mask(make_tiny, tiny_ids, kind, impl):
    """An independent route for mask-only policies: the occupancy handed to the model as its attention mask."""
    model = make_tiny(kind, impl)
    t = tiny_ids.shape[1]
    occupancy = torch.as_tensor(
        run_policy("streaming_llm", budget=9, seq_len=t, sink_count=3, return_occupancy=True).occupancy
    )
    if impl == "sdpa":
        mask = occupancy[None, None]  # sdpa: bool, True = keep
    else:  # eager adds the mask: a bool mask would leak, so an additive float mask
        mask = torch.zeros(1, 1, t, t).masked_fill(~occupancy, torch.finfo(torch.float32).min)
    with torch.no_grad():
        logits = model(tiny_ids, attention_mask=mask).logits
    report = evaluate(model, tiny_ids, policies=["streaming_llm"], budgets=[9], sink_count=3, progress=False)
    assert report.get("streaming_llm", 9)["perplexity"] == pytest.approx(perplexity(logits, tiny_ids), rel=1e-5)


def test_fused_and_chunked_paths_agree(make_tiny, tiny_ids, monkeypatch):
    model = make_tiny("llama", "sdpa")
    kwargs = dict(policies=["streaming_llm", "h2o"], budgets=[6], sink_count=2, progress=False)
    fused = evaluate(model, tiny_ids, **kwargs)
    monkeypatch.setattr(forward, "_fused_kernel", lambda: None)
    chunked = evaluate(model, tiny_ids, **kwargs)
    for a, b in zip(fused.rows, chunked.rows, strict=True):
        for key in ("perplexity", "kl", "top1", "attention_recall", "attention_recall_worst"):
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-7), key


def test_eager_and_sdpa_agree(make_tiny, tiny_ids):
    rows = {}
    for impl in ("eager", "sdpa"):
        report = evaluate(
            make_tiny("llama", impl), tiny_ids, policies=["sliding_window", "h2o"], budgets=[6], progress=False
        )
        rows[impl] = report.rows
    for a, b in zip(rows["eager"], rows["sdpa"], strict=True):
        assert a["perplexity"] == pytest.approx(b["perplexity"], rel=1e-5)
        assert a["attention_recall"] == pytest.approx(b["attention_recall"], rel=1e-5)


def test_rows_metrics_and_kv_bytes(make_tiny, tiny_ids):
    model = make_tiny("llama", "sdpa")
    t = tiny_ids.shape[1]
    report = evaluate(
        model,
        tiny_ids,
        policies=["full", "sliding_window", "streaming_llm"],
        budgets=[6, 12, 100],
        sink_count=2,
        progress=True,
    )
    assert len(report.rows) == 1 + 2 * 3
    for row in report.rows:
        assert REQUIRED <= set(row)
        assert 0 <= row["top1"] <= 1 and row["kl"] >= 0 and 0 < row["attention_recall"] <= 1
    cfg = model.config
    per_token = 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * (cfg.hidden_size // cfg.num_attention_heads) * 4
    assert report.get("sliding_window", 6)["kv_bytes"] == per_token * 6
    assert report.get("full")["kv_bytes"] == per_token * t
    assert report.get("streaming_llm", 100)["kv_bytes"] == per_token * t
    # a budget >= T never evicts: exactly the full cache
    assert report.get("streaming_llm", 100)["perplexity"] == report.get("full")["perplexity"]
    # less cache, less recall
    assert report.get("sliding_window", 6)["attention_recall"] < report.get("sliding_window", 12)["attention_recall"]
    assert report.get("sliding_window", 6)["kl"] > 0


def test_report_outputs(make_tiny, tiny_ids, tmp_path):
    report = evaluate(
        make_tiny("gpt2", "sdpa"),
        tiny_ids,
        policies=["full", "sliding_window", "streaming_llm"],
        budgets=[6, 12],
        progress=False,
    )
    assert isinstance(report, EvaluationReport)
    html = report._repr_html_()
    assert html.count("<tr>") == 1 + len(report.rows) and "streaming_llm" in html
    csv_text = report.to_csv(tmp_path / "r.csv").read_text().splitlines()
    assert csv_text[0].startswith("policy,budget,sink_count,perplexity,kl,top1,attention_recall")
    assert len(csv_text) == 1 + len(report.rows)
    data = json.loads(report.to_json(tmp_path / "r.json"))
    assert data["rows"] == json.loads((tmp_path / "r.json").read_text())["rows"]
    assert data["seq_len"] == tiny_ids.shape[1]
    fig = report.plot()
    ax = fig.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert sorted(lines) == ["full cache", "sliding_window", "streaming_llm"]
    assert list(lines["sliding_window"].get_xdata()) == [6, 12]
    full = next(r for r in report.rows if r["policy"] == "full")["perplexity"]
    assert list(lines["full cache"].get_ydata()) == [full, full]
    import matplotlib.pyplot as plt

    plt.close(fig)
    pd = pytest.importorskip("pandas")
    df = report.to_dataframe()
    assert isinstance(df, pd.DataFrame) and len(df) == len(report.rows)


def test_user_policy_from_the_registry(make_tiny, tiny_ids):
    @register_policy("test_keep_first_and_current", uses_attention=False)
    def keep_first(*, seq_len, budget, **_):
        occ = np.eye(seq_len, dtype=bool)
        occ[:, : budget - 1] |= np.tri(seq_len, dtype=bool)[:, : budget - 1]
        return occ

    try:
        report = evaluate(
            make_tiny("llama", "sdpa"), tiny_ids, policies=["test_keep_first_and_current"], budgets=[5], progress=False
        )
        assert report.rows[0]["policy"] == "test_keep_first_and_current"
        assert report.rows[0]["attention_recall"] < 1
    finally:
        unregister_policy("test_keep_first_and_current")


def test_restored_when_the_forward_raises(make_tiny, tiny_ids):
    model = make_tiny("llama", "eager")
    before = _registrations()

    @register_policy("test_raises_on_long", uses_attention=True)
    def raises(*, attention, seq_len, budget, **_):
        if seq_len > 12:
            raise RuntimeError("boom inside the forward")
        return np.tri(seq_len, dtype=bool) & ~np.tri(seq_len, k=-budget, dtype=bool)

    try:
        with pytest.raises(RuntimeError, match="boom inside the forward"):
            evaluate(model, tiny_ids, policies=["test_raises_on_long"], budgets=[8], progress=False)
    finally:
        unregister_policy("test_raises_on_long")
    assert model.config._attn_implementation == "eager"
    assert _registrations() == before
    assert not model.training


def test_session_route(make_tiny, tiny_ids):
    from sinkvis import SinkVis

    model = make_tiny("llama", "sdpa")
    with SinkVis(model) as sv:
        with pytest.raises(RuntimeError, match="no forward pass"):
            evaluate(sv, policies=["streaming_llm"], budgets=[8])
        model(tiny_ids)
    via_session = evaluate(sv, policies=["streaming_llm"], budgets=[8], progress=False)
    via_model = evaluate(model, tiny_ids, policies=["streaming_llm"], budgets=[8], progress=False)
    assert via_session.rows[0]["perplexity"] == via_model.rows[0]["perplexity"]
    sv.model = None
    with pytest.raises(RuntimeError, match="model is gone"):
        evaluate(sv, policies=["streaming_llm"], budgets=[8])


def test_bad_input(make_tiny, tiny_ids):
    model = make_tiny("llama", "sdpa")
    with pytest.raises(ValueError, match=r"unknown policy 'nope'; valid policies: .*streaming_llm"):
        evaluate(model, tiny_ids, policies=["nope"], budgets=[8])
    with pytest.raises(ValueError, match="budget must be >= 1"):
        evaluate(model, tiny_ids, policies=["streaming_llm"], budgets=[0])
    with pytest.raises(TypeError, match="each budget must be an int"):
        evaluate(model, tiny_ids, policies=["streaming_llm"], budgets=[8.5])
    with pytest.raises(TypeError, match="budgets must be an int or a list"):
        evaluate(model, tiny_ids, policies=["streaming_llm"], budgets="8")
    with pytest.raises(ValueError, match="sink_count"):
        evaluate(model, tiny_ids, policies=["streaming_llm"], budgets=[4], sink_count=4)
    with pytest.raises(TypeError, match="not a causal language model"):
        evaluate(model.model, tiny_ids, policies=["streaming_llm"], budgets=[8])
    with pytest.raises(TypeError, match="causal language model"):
        evaluate(torch.nn.Linear(4, 4), tiny_ids, policies=["streaming_llm"], budgets=[8])
    with pytest.raises(EvaluationMemoryError, match=r"needs about .* GiB .* raise max_memory_bytes"):
        evaluate(model, tiny_ids, policies=["h2o"], budgets=[8], max_memory_bytes=10_000)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        evaluate(model, tiny_ids[:, :1], policies=["streaming_llm"], budgets=[8])
    with pytest.raises(ValueError, match="more than the model's 512 positions"):
        evaluate(model, torch.zeros(1, 600, dtype=torch.long), policies=["streaming_llm"], budgets=[8])
    assert model.config._attn_implementation == "sdpa"


def test_user_policy_with_per_token_parameters(make_tiny, tiny_ids):
    """A user policy whose parameter has one entry per token runs through evaluate (no short dry run)."""
    import numpy as np

    from sinkvis.evaluation import evaluate
    from sinkvis.simulation import register_policy, unregister_policy

    seq_len = tiny_ids.shape[1]

    @register_policy("keep_marked", returns="scores", description="evict unmarked tokens first")
    def keep_marked(*, seq_len, budget, sink_count, attention, group_size, marked):
        marked = np.asarray(marked, dtype=bool)
        if marked.shape != (seq_len,):
            raise ValueError(f"marked needs one entry per token ({seq_len}), got {marked.shape}")
        return np.where(marked, np.inf, -np.arange(seq_len, dtype=np.float64))

    try:
        marked = np.zeros(seq_len, dtype=bool)
        marked[[0, 3]] = True
        model = make_tiny("llama", "sdpa")
        report = evaluate(model, tiny_ids, policies=["keep_marked", "sliding_window"], budgets=[8],
                          policy_params={"keep_marked": {"marked": marked}}, progress=False)
        rows = {r["policy"]: r for r in report.rows}
        assert rows["keep_marked"]["perplexity"] != rows["sliding_window"]["perplexity"]
        with pytest.raises(ValueError, match="one entry per token"):
            evaluate(model, tiny_ids, policies=["keep_marked"], budgets=[8],
                     policy_params={"keep_marked": {"marked": marked[:5]}}, progress=False)
    finally:
        unregister_policy("keep_marked")
