"""The seed's API, exactly as the seed README writes it, and the session's numpy API and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sinkvis import NoCaptureError, SinkVis


def _bytes_to_unicode() -> dict[int, str]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


@pytest.fixture
def local_gpt2(tmp_path):
    """A tiny GPT-2 and a byte-level GPT-2 tokenizer saved to a local folder (stands in for the hub's "gpt2")."""
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2Tokenizer

    vocab = {c: i for i, c in enumerate(sorted(set(_bytes_to_unicode().values())))}
    vocab["<|endoftext|>"] = len(vocab)
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    GPT2Tokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt")).save_pretrained(tmp_path)
    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=2, n_head=2, n_embd=16, vocab_size=len(vocab), n_positions=64,
                     bos_token_id=len(vocab) - 1, eos_token_id=len(vocab) - 1)
    GPT2LMHeadModel(cfg).save_pretrained(tmp_path)
    return str(tmp_path)


def test_seed_quick_start_verbatim(local_gpt2):
    # The seed README's quick start, with the hub id "gpt2" replaced by a local folder (no network here).
    from transformers import GPT2LMHeadModel, GPT2Tokenizer

    from sinkvis import SinkVis

    # Load model
    model = GPT2LMHeadModel.from_pretrained(local_gpt2)
    tokenizer = GPT2Tokenizer.from_pretrained(local_gpt2)

    # Capture attention patterns
    with SinkVis(model, tokenizer) as sv:
        inputs = tokenizer("Hello world", return_tensors="pt")
        outputs = model(**inputs, output_attentions=True)

        # Get attention data (layer -1 = last layer, head 0)
        attention_data = sv.get_attention_data(layer=-1, head=0)

        # Simulate eviction policy
        keep_mask = sv.simulate_policy("streaming_llm", budget=20, sink_count=4)

    assert model.config._attn_implementation == "sdpa"
    t = inputs["input_ids"].shape[1]
    assert isinstance(attention_data, list) and len(attention_data) == t and len(attention_data[0]) == t
    assert all(isinstance(v, float) for v in attention_data[-1])
    assert abs(sum(attention_data[-1]) - 1.0) < 1e-5
    assert keep_mask == [True] * t  # budget 20 >= 11 tokens keeps everything
    assert len(outputs.attentions) == 2, "output_attentions works even though GPT-2 runs sdpa"
    assert sv.tokens[5] == "␣"  # the space is visible
    stats = sv.get_memory_stats()
    assert isinstance(stats, dict) and stats["kv_cache_bytes_full"] == 2 * 2 * 2 * 8 * t * 4
    frame = sv.analyze_attention(tokens=None)
    assert type(frame).__name__ == "AttentionFrame"


def test_seed_simulation_import_line():
    from sinkvis.simulation import simulate_h2o, simulate_lru, simulate_sliding_window, simulate_streaming_llm

    mask = simulate_streaming_llm(seq_len=100, budget=20, sink_count=4)
    assert mask.dtype == bool and mask.shape == (100,)
    assert mask[:4].all() and mask[-16:].all() and mask.sum() == 20
    assert callable(simulate_lru) and callable(simulate_sliding_window) and callable(simulate_h2o)


@pytest.fixture
def llama_sv(make_tiny):
    model = make_tiny("llama", "sdpa")
    ids = torch.tensor(np.random.default_rng(1).integers(0, 100, size=(1, 40)))
    with SinkVis(model) as sv, torch.no_grad():
        model(ids)
    return sv


def test_simulate_policy_seed_forms(llama_sv):
    sv = llama_sv
    t = sv.seq_len
    for policy in ("full", "lru", "sliding_window", "streaming_llm", "h2o"):
        mask = sv.simulate_policy(policy, budget=12, sink_count=4)
        assert isinstance(mask, list) and len(mask) == t and all(isinstance(v, bool) for v in mask)
        assert sum(mask) == (t if policy == "full" else 12), policy
        assert mask[-1], "the current token is always kept"
    assert sv.simulate_policy("streaming_llm", 12, 4)[:4] == [True] * 4
    assert sv.simulate_policy("sliding_window", 12) == [False] * (t - 12) + [True] * 12


def test_simulate_per_layer_and_per_kv_head(llama_sv):
    sv = llama_sv
    res = sv.simulate("h2o", budget=10, layer=-1, per_head=True, return_occupancy=True)
    assert res.keep_mask.shape == (sv.num_kv_heads, sv.seq_len)
    assert res.occupancy.shape == (sv.num_kv_heads, sv.seq_len, sv.seq_len)
    assert (res.keep_mask.sum(-1) == 10).all()
    one = sv.simulate("h2o", budget=10, layer=0, head=3)
    assert one.keep_mask.shape == (sv.seq_len,)


def test_errors_are_clear(llama_sv, make_tiny):
    sv = llama_sv
    with pytest.raises(ValueError, match=r"unknown policy 'lfu'.*streaming_llm"):
        sv.simulate_policy("lfu", budget=10)
    with pytest.raises(ValueError, match="budget"):
        sv.simulate_policy("streaming_llm", budget=0)
    with pytest.raises(ValueError, match="sink_count"):
        sv.simulate_policy("streaming_llm", budget=4, sink_count=6)
    with pytest.raises(ValueError, match=r"layer -4 out of range"):
        sv.get_attention_data(layer=-4)
    with pytest.raises(ValueError, match=r"layer 3 was not captured: valid layers are 0..2"):
        sv.get_attention_data(layer=3)
    with pytest.raises(ValueError, match=r"head 4 was not captured: valid heads are 0..3"):
        sv.get_attention_data(head=4)
    with pytest.raises(TypeError, match="layer must be an int"):
        sv.attention("last")
    with pytest.raises(ValueError, match="tokens has 3 entries but 40"):
        sv.analyze_attention(tokens=["a", "b", "c"])
    with pytest.raises(TypeError, match="list of strings"):
        sv.analyze_attention(tokens="abc")
    with pytest.raises(ValueError, match="budget must be an integer >= 1"):
        sv.get_memory_stats(budget=-3)
    fresh = SinkVis(make_tiny("llama", "sdpa"))
    for call in (fresh.get_memory_stats, fresh.analyze_attention, lambda: fresh.simulate_policy("full", 4)):
        with pytest.raises(NoCaptureError, match="no forward pass captured yet"):
            call()


def test_nan_attention_is_refused(llama_sv):
    sv = llama_sv
    sv.capture.layers[0][0, 5, 2] = np.nan
    sv.capture.stats.clear()
    with pytest.raises(ValueError, match="NaN"):
        sv.analyze_attention()
    with pytest.raises(ValueError, match="NaN"):
        sv.simulate_policy("h2o", budget=8)


def test_memory_stats_keys_and_budget(llama_sv):
    sv = llama_sv
    stats = sv.get_memory_stats(budget=10)
    for key in ("kv_cache_bytes_full", "capture_bytes", "process_rss_bytes", "process_peak_rss_bytes", "device",
                "kv_cache_bytes_budget", "kv_cache_saving_ratio"):
        assert key in stats, key
    # 2 x 3 layers x 2 KV heads x head dim 8 x 40 tokens x 4 bytes
    assert stats["kv_cache_bytes_full"] == 2 * 3 * 2 * 8 * 40 * 4
    assert stats["kv_cache_bytes_budget"] == 2 * 3 * 2 * 8 * 10 * 4
    assert stats["kv_cache_saving_ratio"] == pytest.approx(0.75)
    assert stats["capture_bytes"] == 3 * 4 * 40 * 40 * 4
    assert stats["device"] == "cpu" and "cuda_allocated_bytes" not in stats
    assert stats["process_peak_rss_bytes"] >= stats["process_rss_bytes"] > 0


def test_simulate_one_head_uses_its_kv_group_cache(llama_sv):
    sv = llama_sv  # 4 query heads, 2 KV heads: heads 2 and 3 share a cache
    a = sv.simulate("h2o", budget=10, layer=1, head=3, return_occupancy=True)
    b = sv.simulate("h2o", budget=10, layer=1, head=2)
    per_kv = sv.simulate("h2o", budget=10, layer=1, per_head=True)
    assert a.keep_mask.shape == (sv.seq_len,) and a.occupancy.shape == (sv.seq_len, sv.seq_len)
    np.testing.assert_array_equal(a.keep_mask, b.keep_mask)
    np.testing.assert_array_equal(a.keep_mask, per_kv.keep_mask[1])
    alone = sv.simulate("h2o", budget=10, layer=1, head=3, kv_group=False)
    from sinkvis.simulation import simulate_h2o

    np.testing.assert_array_equal(alone.keep_mask, simulate_h2o(budget=10, attention=sv.attention(1, 3)))


def test_evaluate_inside_the_block_keeps_the_capture(make_tiny, tiny_ids):
    model = make_tiny("llama", "sdpa")
    with SinkVis(model) as sv, torch.no_grad():
        model(tiny_ids)
        before = sv.capture
        report = sv.evaluate(policies=["streaming_llm"], budgets=[12], sink_count=2, progress=False)
        assert sv.capture is before, "evaluation passes are not recorded"
        model(tiny_ids[:, :10])
    assert sv.seq_len == 10, "recording resumes after evaluate"
    assert [r["policy"] for r in report.rows] == ["streaming_llm"]
