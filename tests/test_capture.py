"""Capture on tiny random transformers models, nn.MultiheadAttention and the generic hook."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface

from sinkvis import CaptureTooLargeError, NoCaptureError, SinkVis


def _registered() -> list[str]:
    names = list(AttentionInterface._global_mapping) + list(AttentionMaskInterface._global_mapping)
    return [n for n in names if n.startswith("sinkvis")]


def _hook_count(model: torch.nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()
    )


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_outputs_bitwise_unchanged_and_nothing_left_behind(make_tiny, tiny_ids, attn_impl, kind):
    model = make_tiny(kind, attn_impl)
    with torch.no_grad():
        before = model(tiny_ids).logits
    hooks_before = _hook_count(model)
    with SinkVis(model, mode="full") as sv:
        assert model.config._attn_implementation.startswith("sinkvis")
        with torch.no_grad():
            inside = model(tiny_ids).logits
    with torch.no_grad():
        after = model(tiny_ids).logits
    assert torch.equal(before, inside)
    assert torch.equal(before, after)
    assert model.config._attn_implementation == attn_impl
    assert _registered() == []
    assert _hook_count(model) == hooks_before
    assert sv.attention(0).shape == (sv.num_heads, tiny_ids.shape[1], tiny_ids.shape[1])


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_probabilities_equal_eager_output_attentions(make_tiny, tiny_ids, attn_impl, kind):
    reference = make_tiny(kind, "eager")
    with torch.no_grad():
        ref = reference(tiny_ids, output_attentions=True).attentions
    model = make_tiny(kind, attn_impl)
    with SinkVis(model) as sv, torch.no_grad():
        out = model(tiny_ids, output_attentions=True)
    for layer in range(len(ref)):
        np.testing.assert_allclose(sv.attention(layer), ref[layer][0].numpy(), atol=1e-6)
    # with sdpa, output_attentions now returns the probabilities SinkVis computed beside the model
    assert out.attentions is not None and len(out.attentions) == len(ref)
    np.testing.assert_allclose(out.attentions[-1][0].numpy(), ref[-1][0].numpy(), atol=1e-6)


def test_gqa_heads_and_rows_are_distributions(make_tiny, tiny_ids):
    model = make_tiny("llama", "sdpa")
    with SinkVis(model) as sv, torch.no_grad():
        model(tiny_ids)
    assert (sv.num_heads, sv.num_kv_heads, sv.group_size, sv.head_dim) == (4, 2, 2, 8)
    a = sv.attention(-1)
    t = tiny_ids.shape[1]
    np.testing.assert_allclose(a.sum(-1), 1.0, atol=1e-5)
    assert np.all(np.triu(a, k=1) == 0), "causal: no attention to future keys"
    assert sv.layers == [0, 1, 2] and sv.num_layers == 3
    assert sv.attention(-1, 2).shape == (t, t)
    assert sv.attention_stack().shape == (3, 4, t, t)


def test_padding_mask_is_respected(make_tiny):
    model = make_tiny("llama", "sdpa")
    ids = torch.tensor([[5, 6, 7, 8, 9, 10], [0, 0, 1, 2, 3, 4]])
    mask = torch.tensor([[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]])
    with SinkVis(model, batch_index=1) as sv, torch.no_grad():
        model(input_ids=ids, attention_mask=mask)
    a = sv.attention(0)
    assert np.all(a[:, 2:, :2] == 0), "padded keys get no attention"
    np.testing.assert_allclose(a[:, 2:].sum(-1), 1.0, atol=1e-5)
    assert np.all(a[:, :2] == 0) or np.all(np.isfinite(a)), "fully padded rows are not NaN"


def test_stats_mode_matches_full_mode(make_tiny, tiny_ids, attn_impl):
    model = make_tiny("llama", attn_impl)
    with SinkVis(model, mode="full") as full, torch.no_grad():
        model(tiny_ids)
    with SinkVis(model, mode="stats", query_chunk=5) as stats, torch.no_grad():
        model(tiny_ids)
    for layer in full.layers:
        a = full.attention(layer)
        s = stats.stats(layer)
        np.testing.assert_allclose(s["sum"], a.sum(axis=1), atol=1e-5)
        np.testing.assert_allclose(s["max"], a.max(axis=1), atol=1e-6)
        np.testing.assert_array_equal(s["count"], np.arange(a.shape[-1], 0, -1))
    with pytest.raises(ValueError, match="mode='stats'"):
        stats.attention(0)
    assert stats.capture.nbytes < full.capture.nbytes


def test_layers_heads_and_float16(make_tiny, tiny_ids):
    model = make_tiny("llama", "sdpa")
    with SinkVis(model) as ref, torch.no_grad():
        model(tiny_ids)
    with SinkVis(model, layers=[-1, 0], heads=[3, 1], dtype="float16") as sv, torch.no_grad():
        model(tiny_ids)
    assert sv.layers == [0, 2]
    assert sv.captured_heads == [1, 3]
    assert sv.capture.layers[2].dtype == np.float16
    np.testing.assert_allclose(sv.attention(2, 3), ref.attention(2, 3), atol=2e-3)
    np.testing.assert_allclose(sv.attention(-1, -1), ref.attention(2, 3), atol=2e-3)
    with pytest.raises(ValueError, match="was not captured"):
        sv.attention(1)
    with pytest.raises(ValueError, match="valid heads"):
        sv.attention(0, 2)


def test_data_survives_the_block_and_later_passes_replace_it(make_tiny, tiny_ids):
    model = make_tiny("gpt2", "sdpa")
    with SinkVis(model) as sv, torch.no_grad():
        model(tiny_ids)
        first = sv.attention(0).copy()
        model(tiny_ids[:, :10])
    assert sv.seq_len == 10
    with torch.no_grad():
        model(tiny_ids)  # outside the block: nothing recorded
    assert sv.seq_len == 10
    assert first.shape[-1] == tiny_ids.shape[1]


def test_exception_in_block_restores_model(make_tiny, tiny_ids):
    model = make_tiny("llama", "sdpa")
    hooks = _hook_count(model)
    with pytest.raises(RuntimeError, match="boom"):
        with SinkVis(model) as sv, torch.no_grad():
            model(tiny_ids)
            raise RuntimeError("boom")
    assert model.config._attn_implementation == "sdpa"
    assert _registered() == [] and _hook_count(model) == hooks
    assert sv.attention(0).shape[-1] == tiny_ids.shape[1], "data captured before the error is kept"


def test_capture_too_large_is_refused_and_keeps_previous_capture(make_tiny, tiny_ids):
    model = make_tiny("llama", "sdpa")
    with SinkVis(model, max_capture_bytes=3 * 4 * 24 * 24 * 4) as sv, torch.no_grad():
        model(tiny_ids)  # exactly fits
        with pytest.raises(CaptureTooLargeError, match="mode='stats'"):
            model(torch.cat([tiny_ids, tiny_ids], dim=1))
    assert sv.seq_len == tiny_ids.shape[1]
    assert model.config._attn_implementation == "sdpa" and _registered() == []


def test_multihead_attention_capture():
    torch.manual_seed(0)
    mha = torch.nn.MultiheadAttention(16, 4, batch_first=True).eval()
    x = torch.randn(1, 7, 16)
    causal = torch.triu(torch.ones(7, 7, dtype=torch.bool), 1)
    with torch.no_grad():
        ref_out, _ = mha(x, x, x, attn_mask=causal, need_weights=False)
        _, ref_w = mha(x, x, x, attn_mask=causal, average_attn_weights=False)
    with SinkVis(mha) as sv, torch.no_grad():
        out, w = mha(x, x, x, attn_mask=causal, need_weights=False)
    assert w is None, "the caller's need_weights=False is honoured"
    assert torch.equal(out, ref_out)
    np.testing.assert_allclose(sv.attention(0), ref_w[0].numpy(), atol=1e-6)
    assert sv.num_heads == 4 and sv.num_layers == 1
    assert len(mha._forward_hooks) == 0


class _Block(torch.nn.Module):
    """A custom attention module that returns its weights."""

    def __init__(self) -> None:
        super().__init__()
        self.qk = torch.nn.Linear(8, 16)

    def forward(self, x):
        q, k = self.qk(x).chunk(2, dim=-1)
        scores = q @ k.transpose(-1, -2)
        t = x.shape[-2]
        scores = scores.masked_fill(torch.triu(torch.ones(t, t, dtype=torch.bool), 1), float("-inf"))
        w = scores.softmax(-1)
        return w @ x, {"weights": w}


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = torch.nn.ModuleList([_Block(), _Block()])

    def forward(self, x):
        for b in self.blocks:
            x = b(x)[0]
        return x


def test_generic_hook():
    torch.manual_seed(0)
    net = _Net()
    x = torch.randn(1, 5, 8)
    with pytest.raises(ValueError, match="no recognisable attention"):
        SinkVis(net).__enter__()
    with SinkVis(
        net, attention_modules=list(net.blocks), weights_from=lambda m, a, k, out: out[1]["weights"]
    ) as sv, torch.no_grad():
        net(x)
    assert sv.layers == [0, 1]
    assert sv.attention(1).shape == (1, 5, 5)
    np.testing.assert_allclose(sv.attention(1, 0).sum(-1), 1.0, atol=1e-6)
    assert sum(len(b._forward_hooks) for b in net.blocks) == 0


def test_no_capture_yet_and_bad_arguments(make_tiny):
    model = make_tiny("llama", "sdpa")
    sv = SinkVis(model)
    with pytest.raises(NoCaptureError, match="no forward pass captured yet"):
        sv.get_attention_data()
    with pytest.raises(ValueError, match="mode must be one of"):
        SinkVis(model, mode="matrix")
    with pytest.raises(ValueError, match="dtype must be one of"):
        SinkVis(model, dtype="int8")
    with pytest.raises(ValueError, match="query_chunk must be an integer >= 1"):
        SinkVis(model, query_chunk=0)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        SinkVis("gpt2")
    with pytest.raises(TypeError, match="unexpected keyword"):
        SinkVis(model, modes="full")
    with pytest.raises(ValueError, match=r"layers index 7 out of range.*-3..2"):
        with SinkVis(model, layers=[7]):
            pass
    assert _registered() == []


def test_a_pass_that_fails_midway_never_replaces_a_complete_capture(make_tiny, tiny_ids):
    model = make_tiny("llama", "sdpa")
    layer2 = model.model.layers[2].mlp

    def fail(*_):
        raise RuntimeError("layer 2 broke")

    with SinkVis(model) as sv, torch.no_grad():
        model(tiny_ids)
        handle = layer2.register_forward_hook(fail)
        with pytest.raises(RuntimeError, match="layer 2 broke"):
            model(tiny_ids[:, :8])
        handle.remove()
    assert sv.seq_len == tiny_ids.shape[1] and sv.layers == [0, 1, 2]


def test_flash_style_padding_mask_2d():
    """Implementations that pass a [B, S] padding mask (flash-style) get causal + padding probabilities."""
    from sinkvis.capture.probs import StatsAccumulator, chunk_mask, chunk_scores, zero_empty_rows

    torch.manual_seed(0)
    q, k = torch.randn(2, 6, 4), torch.randn(2, 6, 4)
    pad = torch.tensor([[0, 1, 1, 1, 1, 1]])
    rows = []
    acc = StatsAccumulator(2, 6)
    for q0 in (0, 3):
        m = chunk_mask(pad, 0, q0, q0 + 3, 6, 6, is_causal=True, device=q.device)
        p = zero_empty_rows(torch.softmax(chunk_scores(q, k, q0, q0 + 3, scaling=0.5, mask=m), -1), m)
        rows.append(torch.nn.functional.pad(p, (0, 6 - p.shape[-1])))
        acc.add_scores(chunk_scores(q, k, q0, q0 + 3, scaling=0.5, mask=m), q0, 0, m)
    probs = torch.cat(rows, dim=1)
    s = (q @ k.transpose(-1, -2)) * 0.5
    allowed = torch.tril(torch.ones(6, 6, dtype=torch.bool)) & pad.bool()
    ref = torch.softmax(s.masked_fill(~allowed, float("-inf")), -1).nan_to_num(0.0)
    torch.testing.assert_close(probs, ref)
    torch.testing.assert_close(acc.sum.float(), ref.sum(1))
    assert acc.count.tolist() == [0, 5, 4, 3, 2, 1]
