"""The linked dashboard behind ``sv.show()`` on a real capture of a tiny GQA Llama."""

from __future__ import annotations

import ipywidgets
import numpy as np
import pytest
from test_widgets_support import browser_update, decode

from sinkvis import SinkVis
from sinkvis_widgets import AttentionHeatmap, Dashboard, LayerHeadSelector, MemoryPanel, PolicyComparison


@pytest.fixture
def sv(make_tiny, tiny_ids):
    model = make_tiny("llama", "sdpa")
    with SinkVis(model) as session:
        model(tiny_ids)
    return session


def _all_widgets(root):
    out = [root]
    for child in getattr(root, "children", ()):
        out.extend(_all_widgets(child))
    return out


def test_show_returns_the_dashboard_with_its_four_components(sv):
    d = sv.show(budget=8, sink_count=2)
    assert isinstance(d, Dashboard) and isinstance(d, ipywidgets.VBox)
    found = _all_widgets(d)
    for cls in (LayerHeadSelector, AttentionHeatmap, PolicyComparison, MemoryPanel):
        assert sum(isinstance(w, cls) for w in found) == 1, cls
    assert (d.heatmap.layer, d.heatmap.head) == (d.selector.layer, d.selector.head) == (2, 0)
    assert d.heatmap.policy == d.policies.highlight == "streaming_llm"
    assert d.heatmap.budget == 8 and d.memory.budget == 8


def test_choosing_a_head_updates_heatmap_and_simulations(sv):
    d = sv.show(budget=6)
    browser_update(d.selector, layer=0, head=3)
    assert (d.heatmap.layer, d.heatmap.head) == (0, 3)
    assert (d.policies.layer, d.policies.head) == (0, 3)
    np.testing.assert_array_equal(decode(d.heatmap.matrix), sv.attention(0, 3))


def test_moving_the_budget_slider_updates_strips_overlay_and_memory(sv):
    d = sv.show(budget=6, sink_count=2)
    overlay_before = decode(d.heatmap.overlay).copy()
    browser_update(d.policies, budget=16)
    kept = {r["policy"]: r["kept"] for r in d.policies.results}
    assert kept["sliding_window"] == 16 and kept["full"] == 24
    assert d.heatmap.budget == 16
    overlay_after = decode(d.heatmap.overlay)
    assert (overlay_after > 0).sum() < (overlay_before > 0).sum()
    full = sv.get_memory_stats()["kv_cache_bytes_full"]
    assert {r["policy"]: r["kv_bytes"] for r in d.memory.per_policy}["sliding_window"] == full * 16 // 24
    assert d.memory.stats["kv_cache_bytes_budget"] == sv.get_memory_stats(budget=16)["kv_cache_bytes_budget"]


def test_highlighting_a_policy_changes_the_overlay(sv):
    d = sv.show(budget=6, sink_count=2)
    browser_update(d.policies, highlight="h2o")
    assert d.heatmap.policy == "h2o"
    browser_update(d.policies, highlight="")
    assert d.heatmap.policy == "" and d.heatmap.overlay is None


def test_nonsense_in_the_dashboard_is_shown_and_the_kernel_carries_on(sv):
    before = sv.attention_stack().copy()
    d = sv.show(budget=6)
    browser_update(d.selector, layer=99, head=-1)
    browser_update(d.policies, budget=-3, sink_count="x")
    assert "layer=99 refused" in d.selector.error
    assert "budget=-3 refused" in d.policies.error and "sink_count='x' refused" in d.policies.error
    assert (d.heatmap.layer, d.heatmap.head, d.heatmap.budget) == (2, 0, 6)
    np.testing.assert_array_equal(sv.attention_stack(), before)
    browser_update(d.policies, budget=7)
    assert d.policies.error == "" and d.heatmap.budget == 7


def test_dashboard_in_stats_mode(make_tiny, tiny_ids):
    model = make_tiny("llama", "sdpa")
    with SinkVis(model, mode="stats") as sv:
        model(tiny_ids)
    d = sv.show(budget=8)
    assert d.heatmap.mode == "stats" and d.heatmap.matrix is None
    assert decode(d.heatmap.profile).shape == (24,)
    browser_update(d.policies, budget=10)
    assert decode(d.heatmap.keep_mask).sum() == 10


def test_dashboard_refuses_unknown_options(sv):
    with pytest.raises(TypeError):
        sv.show(colour="red")


def test_show_before_any_forward_pass_says_so(make_tiny):
    from sinkvis.session import NoCaptureError

    model = make_tiny("llama", "sdpa")
    with SinkVis(model) as session, pytest.raises(NoCaptureError, match="no forward pass"):
        session.show()


def test_dashboard_on_a_capture_of_some_layers_and_heads(make_tiny, tiny_ids):
    model = make_tiny("llama", "sdpa")
    with SinkVis(model, layers=[0, 2], heads=[1, 3]) as sv:
        model(tiny_ids)
    d = sv.show(budget=6)
    assert d.selector.layers == [0, 2] and d.selector.heads == [1, 3]
    assert decode(d.selector.sink_mass).shape == (2, 2)
    browser_update(d.selector, layer=0, head=3)
    np.testing.assert_array_equal(decode(d.heatmap.matrix), sv.attention(0, 3))
    assert d.policies.result("h2o")["kept"] == 6
    browser_update(d.selector, head=2)  # not captured
    assert "head=2 refused" in d.selector.error and d.heatmap.head == 3


def test_show_in_marimo_wraps_each_anywidget(monkeypatch, make_tiny, tiny_ids):
    """marimo shows anywidgets but not ipywidgets boxes: sv.show() lays the components out with marimo."""
    import sys
    import types

    import torch

    from sinkvis import SinkVis

    wrapped = []
    fake = types.ModuleType("marimo")
    fake.running_in_notebook = lambda: True
    fake.ui = types.SimpleNamespace(anywidget=lambda w: wrapped.append(w) or ("anywidget", w))
    fake.vstack = lambda items: ("vstack", items)
    fake.hstack = lambda items, justify=None: ("hstack", items)
    monkeypatch.setitem(sys.modules, "marimo", fake)
    model = make_tiny("llama", "sdpa")
    with SinkVis(model) as sv, torch.no_grad():
        model(tiny_ids)
    out = sv.show()
    assert out[0] == "vstack"
    assert [type(w).__name__ for w in wrapped] == [
        "LayerHeadSelector", "MemoryPanel", "PolicyComparison", "AttentionHeatmap"
    ]
    wrapped[0].head = 1  # still linked: selecting a head moves the heatmap
    assert wrapped[3].head == 1
