"""Real-model behaviour on the embedded SmolLM2-135M (30 layers, 9 query heads, 3 KV heads)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sinkvis import SinkVis

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ids(smollm2):
    from sinkvis.text import SAMPLE_TEXT

    _, tok = smollm2
    out = tok(SAMPLE_TEXT, return_tensors="pt")["input_ids"][:, :256]
    assert out.shape[1] == 256
    return out


@pytest.fixture(scope="module")
def full_capture(smollm2, ids):
    model, tok = smollm2
    with torch.no_grad():
        plain = model(ids).logits
    with SinkVis(model, tok) as sv, torch.no_grad():
        inside = model(ids).logits
    return sv, plain, inside


def test_sdpa_outputs_bitwise_unchanged(smollm2, full_capture):
    model, _ = smollm2
    sv, plain, inside = full_capture
    assert torch.equal(plain, inside)
    assert model.config._attn_implementation == "sdpa"
    assert (sv.num_layers, sv.num_heads, sv.num_kv_heads, sv.head_dim) == (30, 9, 3, 64)


def test_probabilities_equal_eager_output_attentions(smollm2, ids, full_capture):
    model, _ = smollm2
    sv, _, _ = full_capture
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            ref = model(ids, output_attentions=True).attentions
    finally:
        model.set_attn_implementation("sdpa")
    worst = max(float(np.abs(sv.attention(layer) - ref[layer][0].numpy()).max()) for layer in range(30))
    assert worst < 1e-4


def test_first_token_is_a_sink_in_most_upper_heads(full_capture):
    sv, _, _ = full_capture
    frame = sv.analyze_attention()
    assert 0 in frame.sink_tokens
    by_layer = frame.sink_rate_by_layer(0)
    assert by_layer[12:].mean() > 0.6, by_layer
    assert frame.sink_rate[0] > 0.35
    assert frame.sink_rate[0] == frame.sink_rate.max()
    assert sum(r["role"] == "sink" for r in frame.head_roles) >= 30
    assert sv.tokens[:3] == ["A", "␣Short", "␣History"]


def test_stats_mode_finds_the_same_sinks_and_heavy_hitters(smollm2, ids, full_capture):
    model, tok = smollm2
    sv, _, _ = full_capture
    with SinkVis(model, tok, mode="stats") as st, torch.no_grad():
        model(ids)
    a, b = sv.analyze_attention(), st.analyze_attention()
    assert a.sink_tokens == b.sink_tokens
    assert a.heavy_hitters == b.heavy_hitters
    assert [r["role"] for r in a.head_roles] == [r["role"] for r in b.head_roles]
    np.testing.assert_allclose(a.head_sink_mass, b.head_sink_mass, atol=1e-4)
    assert st.capture.nbytes * 20 < sv.capture.nbytes
    np.testing.assert_allclose(st.attention_received(-1), sv.attention_received(-1), atol=1e-5)


def test_streaming_llm_keeps_the_sink_that_h2o_also_keeps(full_capture):
    sv, _, _ = full_capture
    stream = sv.simulate_policy("streaming_llm", budget=32, sink_count=4)
    h2o = sv.simulate_policy("h2o", budget=32)
    assert stream[0] and h2o[0], "token 0 (the sink) survives both policies"
    window = sv.simulate_policy("sliding_window", budget=32)
    assert not window[0]
