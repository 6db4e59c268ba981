"""attention_recall: known answers, GQA grouping, broadcasting, properties and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sinkvis.evaluation import attention_recall


def _causal_softmax(rng: np.random.Generator, *lead: int, t: int) -> np.ndarray:
    logits = rng.normal(size=(*lead, t, t))
    logits = np.where(np.tri(t, dtype=bool), logits, -np.inf)
    e = np.exp(logits - logits.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_known_answer():
    attention = np.array([[1.0, 0.0, 0.0], [0.25, 0.75, 0.0], [0.5, 0.2, 0.3]])
    occupancy = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 1]], dtype=bool)
    r = attention_recall(attention, occupancy)
    np.testing.assert_allclose(r["per_query"], [1.0, 0.75, 0.5])
    assert r["mean"] == pytest.approx(0.75)
    assert r["worst"] == pytest.approx(0.5)
    assert r["per_head_mean"] == pytest.approx(0.75)


def test_full_occupancy_recalls_everything():
    att = _causal_softmax(np.random.default_rng(0), 2, 3, t=10)
    r = attention_recall(att, np.tri(10, dtype=bool))
    assert r["per_query"].shape == (2, 3, 10)
    assert r["per_head_mean"].shape == (2, 3)
    np.testing.assert_allclose(r["per_query"], 1.0)
    assert r["worst"] == pytest.approx(1.0)


def test_group_size_shares_one_occupancy_per_kv_head():
    rng = np.random.default_rng(1)
    att = _causal_softmax(rng, 4, t=12)  # 4 query heads
    occ = np.tri(12, dtype=bool)[None].repeat(2, 0) & (rng.random((2, 12, 12)) < 0.5)  # 2 KV heads
    r = attention_recall(att, occ, group_size=2)
    expected = attention_recall(att, np.repeat(occ, 2, axis=0))
    np.testing.assert_allclose(r["per_query"], expected["per_query"])
    # heads 0 and 1 share KV head 0: the manual sum for head 1
    manual = (att[1] * occ[0]).sum(-1)
    np.testing.assert_allclose(r["per_query"][1], manual)


def test_accepts_torch_tensors():
    torch = pytest.importorskip("torch")
    att = _causal_softmax(np.random.default_rng(2), 3, t=6)
    occ = np.tri(6, k=0, dtype=bool) & ~np.tri(6, k=-3, dtype=bool)
    r_np = attention_recall(att, occ)
    r_t = attention_recall(torch.from_numpy(att), torch.from_numpy(occ))
    assert r_t["mean"] == pytest.approx(r_np["mean"])


@settings(max_examples=40, deadline=None)
@given(t=st.integers(2, 12), heads=st.integers(1, 3), seed=st.integers(0, 10_000))
def test_recall_is_a_share_and_grows_with_the_cache(t, heads, seed):
    rng = np.random.default_rng(seed)
    att = _causal_softmax(rng, heads, t=t)
    small = np.tri(t, dtype=bool) & (rng.random((t, t)) < 0.4)
    big = small | (np.tri(t, dtype=bool) & (rng.random((t, t)) < 0.4))
    r_small, r_big = attention_recall(att, small), attention_recall(att, big)
    assert np.all((r_small["per_query"] >= 0) & (r_small["per_query"] <= 1))
    assert np.all(r_big["per_query"] >= r_small["per_query"] - 1e-12)
    assert r_small["worst"] <= r_small["mean"] + 1e-12


def test_bad_input():
    att = _causal_softmax(np.random.default_rng(3), 4, t=5)
    with pytest.raises(ValueError, match="NaN or inf"):
        bad = att.copy()
        bad[0, 1, 0] = np.nan
        attention_recall(bad, np.tri(5, dtype=bool))
    with pytest.raises(ValueError, match=r"\[\.\.\., T, T\]"):
        attention_recall(np.ones((3, 4)), np.ones((3, 4), dtype=bool))
    with pytest.raises(ValueError, match="does not broadcast"):
        attention_recall(att, np.ones((3, 5, 5), dtype=bool))
    with pytest.raises(ValueError, match="KV heads"):
        attention_recall(att, np.ones((3, 5, 5), dtype=bool), group_size=2)
    with pytest.raises(ValueError, match="group_size must be a positive int"):
        attention_recall(att, np.ones((5, 5), dtype=bool), group_size=0)
