"""Each widget on a real capture of a tiny GQA Llama: traits, browser messages, binary payloads, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import traitlets
from test_widgets_support import browser_command, browser_update, decode, sent_messages

from sinkvis import SinkVis
from sinkvis.simulation import run_policy
from sinkvis_widgets import AttentionHeatmap, LayerHeadSelector, MemoryPanel, PolicyComparison


@pytest.fixture
def sv(make_tiny, tiny_ids):
    model = make_tiny("llama", "sdpa")
    with SinkVis(model) as session:
        model(tiny_ids)
    return session


@pytest.fixture
def stats_sv(make_tiny, tiny_ids):
    model = make_tiny("llama", "sdpa")
    with SinkVis(model, mode="stats") as session:
        model(tiny_ids)
    return session


# -- LayerHeadSelector -------------------------------------------------------------------------
def test_selector_sends_sink_mass_grid_and_takes_a_click(sv):
    w = LayerHeadSelector(sv)
    assert w.layers == [0, 1, 2] and w.heads == [0, 1, 2, 3]
    assert (w.layer, w.head) == (2, 0)  # default: last captured layer
    mass = decode(w.sink_mass)
    np.testing.assert_allclose(mass, sv.analyze_attention().head_sink_mass, rtol=1e-6)
    browser_update(w, layer=1, head=3)
    assert (w.layer, w.head, w.error) == (1, 3, "")


def test_selector_refuses_a_layer_that_does_not_exist(sv):
    w = LayerHeadSelector(sv, layer=0)
    log = sent_messages(w)
    browser_update(w, layer=7)
    assert w.layer == 0
    assert "layer=7 refused" in w.error and "0..2" in w.error
    # the browser is put back on the valid value
    assert any(m.get("method") == "update" and m["state"].get("layer") == 0 for m in log)
    browser_update(w, head="two")
    assert w.head == 0 and "head" in w.error and "int" in w.error
    browser_update(w, layer=1)  # a valid change clears the refusal
    assert (w.layer, w.error) == (1, "")


def test_python_assignment_of_nonsense_raises(sv):
    w = LayerHeadSelector(sv)
    with pytest.raises(traitlets.TraitError, match="was not captured"):
        w.layer = 5
    with pytest.raises(TypeError, match="unexpected keyword"):
        LayerHeadSelector(sv, colour="red")


# -- AttentionHeatmap --------------------------------------------------------------------------
def test_heatmap_sends_the_head_as_float32_binary(sv):
    w = AttentionHeatmap(sv, layer=1, head=2)
    assert w.mode == "full" and w.seq_len == 24 and len(w.tokens) == 24
    np.testing.assert_array_equal(decode(w.matrix), sv.attention(1, 2))
    assert w.factor == 1 and w.overlay is None
    assert w.matrix["dtype"] == "float32" and isinstance(w.matrix["view"], memoryview)
    assert w.sinks == sv.analyze_attention().sink_tokens


def test_heatmap_greys_the_cells_the_policy_evicted(sv):
    w = AttentionHeatmap(sv, layer=0, head=1, policy="streaming_llm", budget=8, sink_count=2)
    occ = run_policy("streaming_llm", budget=8, seq_len=24, sink_count=2, return_occupancy=True).occupancy
    overlay = decode(w.overlay)
    expected = (np.tri(24, dtype=bool) & ~np.asarray(occ, bool)) * 255
    np.testing.assert_array_equal(overlay, expected)
    browser_update(w, budget=24)  # budget >= T keeps everything
    assert decode(w.overlay).max() == 0


def test_heatmap_pools_long_sequences_and_keeps_sinks(sv):
    w = AttentionHeatmap(sv, layer=2, head=0, max_cells=16)
    assert w.factor == 2
    pooled = decode(w.matrix)
    assert pooled.shape == (12, 12)
    a = sv.attention(2, 0)
    assert pooled[5, 0] == a[10:12, 0:2].max()


def test_heatmap_fetch_window_returns_full_resolution_detail(sv):
    w = AttentionHeatmap(sv, layer=2, head=3, policy="h2o", budget=6, max_cells=16)
    reply, buffers = browser_command(w, "fetch_window", {"q0": 4, "q1": 14, "k0": 0, "k1": 10})
    assert reply["factor"] == 1 and reply["shape"] == [10, 10] and reply["has_overlay"]
    window = np.frombuffer(bytes(buffers[0]), dtype="<f4").reshape(reply["shape"])
    np.testing.assert_array_equal(window, sv.attention(2, 3)[4:14, 0:10])
    assert np.frombuffer(bytes(buffers[1]), np.uint8).shape == (100,)


def test_heatmap_fetch_window_answers_nonsense_with_an_error(sv):
    w = AttentionHeatmap(sv)
    for bad in ({"q0": "x", "q1": 3, "k0": 0, "k1": 3}, {"q0": 5, "q1": 2, "k0": 0, "k1": 3},
                {"q0": 0, "q1": 999, "k0": 0, "k1": 3}, "not a dict"):
        reply, buffers = browser_command(w, "fetch_window", bad)
        assert "refused" in reply["error"] and buffers == []


def test_heatmap_refuses_nonsense_and_keeps_data(sv):
    before = sv.attention_stack().copy()
    w = AttentionHeatmap(sv, layer=0, head=0)
    matrix = decode(w.matrix)
    browser_update(w, layer=-40)
    browser_update(w, head=9)
    browser_update(w, scale="rainbow")
    browser_update(w, policy="nope")
    browser_update(w, budget=-3)
    assert (w.layer, w.head, w.scale, w.policy, w.budget) == (0, 0, "linear", "", 24)
    assert "budget=-3 refused" in w.error and ">= 1" in w.error
    np.testing.assert_array_equal(decode(w.matrix), matrix)
    np.testing.assert_array_equal(sv.attention_stack(), before)


def test_heatmap_stats_mode_sends_the_received_profile(stats_sv):
    w = AttentionHeatmap(stats_sv, layer=1, head=2, policy="streaming_llm", budget=8)
    assert w.mode == "stats" and w.matrix is None
    np.testing.assert_allclose(decode(w.profile), stats_sv.attention_received(1, 2))
    assert decode(w.keep_mask).sum() == 8
    reply, _ = browser_command(w, "fetch_window", {"q0": 0, "q1": 4, "k0": 0, "k1": 4})
    assert "stats" in reply["error"]


# -- PolicyComparison --------------------------------------------------------------------------
def test_policy_comparison_re_simulates_on_a_slider_message(sv):
    w = PolicyComparison(sv, budget=8, sink_count=2, layer=1, head=1)
    assert w.policies[: len(w.selected)] != [] and set(w.selected) <= set(w.policies)
    assert w.selected == ["full", "sliding_window", "streaming_llm", "h2o"]
    kept = {r["policy"]: r["kept"] for r in w.results}
    assert kept == {"full": 24, "sliding_window": 8, "streaming_llm": 8, "h2o": 8}
    browser_update(w, budget=12)
    assert {r["policy"]: r["kept"] for r in w.results}["streaming_llm"] == 12
    row = w.result("streaming_llm")
    assert 0 < row["attention_recall"] <= 1 and row["recall_worst"] <= row["attention_recall"]
    assert row["kv_bytes"] == sv.get_memory_stats()["kv_cache_bytes_full"] * 12 // 24
    mask = decode(w.results[2]["keep_mask"])
    expected = run_policy("streaming_llm", budget=12, seq_len=24, sink_count=2).keep_mask
    np.testing.assert_array_equal(mask.astype(bool), np.asarray(expected).reshape(-1))


def test_policy_comparison_h2o_uses_the_heads_kv_group(sv):
    w = PolicyComparison(sv, budget=6, selected=["h2o"], layer=2, head=3)
    att = sv.attention(2)[2:4]  # query heads 2 and 3 share KV head 1
    expected = run_policy("h2o", budget=6, attention=att, group_size=2).keep_mask
    np.testing.assert_array_equal(decode(w.results[0]["keep_mask"]).astype(bool), np.asarray(expected).reshape(-1))


def test_policy_comparison_lists_user_registered_policies(sv):
    from sinkvis.simulation import register_policy, unregister_policy

    @register_policy("keep_first_widget_test", uses_attention=False)
    def keep_first(*, seq_len, budget, sink_count, attention, group_size, **params):
        return np.arange(seq_len) < budget

    try:
        w = PolicyComparison(sv, budget=5)
        assert "keep_first_widget_test" in w.policies
        browser_update(w, selected=["full", "keep_first_widget_test"])
        assert [r["policy"] for r in w.results] == ["full", "keep_first_widget_test"]
    finally:
        unregister_policy("keep_first_widget_test")


def test_policy_comparison_refuses_nonsense(sv):
    before = sv.attention_stack().copy()
    w = PolicyComparison(sv, budget=8)
    results = [dict(r, keep_mask=None) for r in w.results]
    browser_update(w, budget=-3)
    assert w.budget == 8 and "budget=-3 refused" in w.error
    browser_update(w, budget="lots")
    assert w.budget == 8 and "int" in w.error
    browser_update(w, selected=["full", "magic"])
    assert "magic" in w.error and "valid" in w.error
    browser_update(w, sync_throttle_ms=-1)
    assert w.sync_throttle_ms == 80
    assert [dict(r, keep_mask=None) for r in w.results] == results
    np.testing.assert_array_equal(sv.attention_stack(), before)
    browser_update(w, budget=10)
    assert w.error == "" and w.budget == 10


def test_policy_comparison_reports_sink_count_not_below_budget_per_policy(sv):
    w = PolicyComparison(sv, budget=8, sink_count=2)
    browser_update(w, sink_count=8)
    row = w.result("streaming_llm")
    assert row["error"] and "sink_count" in row["error"]
    assert w.result("full")["error"] == "" and w.result("full")["kept"] == 24


def test_policy_comparison_in_stats_mode(stats_sv):
    w = PolicyComparison(stats_sv, budget=8)
    rows = {r["policy"]: r for r in w.results}
    assert rows["streaming_llm"]["kept"] == 8 and rows["streaming_llm"]["attention_recall"] is None
    assert "stats" in rows["h2o"]["error"]


# -- MemoryPanel ---------------------------------------------------------------------------------
def test_memory_panel_shows_full_and_budget_bytes(sv):
    w = MemoryPanel(sv, budget=6)
    stats = sv.get_memory_stats(budget=6)
    assert w.stats["kv_cache_bytes_full"] == stats["kv_cache_bytes_full"]
    assert w.stats["capture_bytes"] == stats["capture_bytes"]
    assert w.per_policy == [{"policy": "budget", "kv_bytes": stats["kv_cache_bytes_budget"]}]
    browser_update(w, budget=12)
    assert w.stats["kv_cache_bytes_budget"] == sv.get_memory_stats(budget=12)["kv_cache_bytes_budget"]
    browser_update(w, budget=0)
    assert w.budget == 12 and "refused" in w.error


def test_the_widgets_fast_recall_matches_sinkvis_evaluation(sv):
    from sinkvis.evaluation import attention_recall
    from sinkvis_widgets._source import recall_of

    att = sv.attention(1, 2)
    occ = run_policy("h2o", budget=7, attention=sv.attention(1)[2:4], group_size=2, return_occupancy=True).occupancy
    occ = np.asarray(occ).reshape(24, 24)
    expected = attention_recall(att, occ)
    mean, worst = recall_of(att, occ)
    assert mean == pytest.approx(expected["mean"], rel=1e-5) and worst == pytest.approx(expected["worst"], rel=1e-5)


def test_policy_comparison_shows_perplexity_from_an_evaluation_report(sv):
    rows = [
        {"policy": "full", "budget": 24, "sink_count": 4, "perplexity": 100.0},
        {"policy": "streaming_llm", "budget": 8, "sink_count": 2, "perplexity": 140.5},
        {"policy": "sliding_window", "budget": 8, "sink_count": 2, "perplexity": 300.0},
    ]
    w = PolicyComparison(sv, budget=8, sink_count=2, report=rows)
    ppl = {r["policy"]: r["perplexity"] for r in w.results}
    assert ppl == {"full": 100.0, "sliding_window": 300.0, "streaming_llm": 140.5, "h2o": None}
    browser_update(w, budget=9)
    assert [r["perplexity"] for r in w.results] == [100.0, None, None, None]
