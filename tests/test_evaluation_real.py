"""evaluate() on the embedded SmolLM2: exactness against a real evicting cache, and StreamingLLM's finding."""

from __future__ import annotations

import pytest

from sinkvis.evaluation import decode_with_evicting_cache, evaluate
from sinkvis.text import SAMPLE_TEXT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def essay_ids(smollm2):
    _, tokenizer = smollm2
    ids = tokenizer(SAMPLE_TEXT, return_tensors="pt").input_ids
    assert ids.shape[1] >= 1024
    return ids


@pytest.mark.parametrize("policy", ["streaming_llm", "h2o"])
def test_single_pass_equals_token_by_token_decode_with_an_evicting_cache(smollm2, essay_ids, policy):
    model, _ = smollm2
    ids = essay_ids[:, :96]
    report = evaluate(model, ids, policies=[policy], budgets=[32], sink_count=4, progress=False)
    reference = decode_with_evicting_cache(model, ids, policy, 32, sink_count=4)
    single_pass = report.get(policy, 32)["perplexity"]
    assert abs(single_pass / reference.perplexity - 1) < 1e-3
    assert model.config._attn_implementation == "sdpa"


def test_streaming_llm_finding(smollm2, essay_ids):
    """StreamingLLM's Table 1 in miniature: without sinks a window is far worse; with 4 sinks it is close to full."""
    model, _ = smollm2
    ids = essay_ids[:, :1024]
    report = evaluate(
        model, ids, policies=["full", "sliding_window", "streaming_llm"], budgets=[128], sink_count=4, progress=False
    )
    full = report.get("full")["perplexity"]
    window = report.get("sliding_window", 128)["perplexity"]
    streaming = report.get("streaming_llm", 128)["perplexity"]
    assert window >= 1.4 * streaming, (full, window, streaming)
    assert streaming <= 1.6 * full, (full, window, streaming)
    # the sinks are where the attention goes: keeping them keeps much more of it
    recall_window = report.get("sliding_window", 128)["attention_recall"]
    recall_streaming = report.get("streaming_llm", 128)["attention_recall"]
    assert recall_streaming > recall_window + 0.2
    assert report.get("streaming_llm", 128)["top1"] > report.get("sliding_window", 128)["top1"]
