"""Sinks, heavy hitters, head roles and AttentionFrame on constructed captures (known answers)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from sinkvis import AttentionFrame, SinkVis
from sinkvis.analysis import analyze
from sinkvis.capture.store import Capture


def _capture(attn: np.ndarray) -> Capture:
    """A full-mode capture of ``[L, H, T, T]`` attention."""
    cap = Capture(mode="full", input_ids=np.arange(attn.shape[-1]))
    for layer, a in enumerate(attn):
        cap.layers[layer] = a.astype(np.float32)
    cap.num_heads = cap.num_kv_heads = attn.shape[1]
    cap.seq_len = cap.key_len = attn.shape[-1]
    cap.complete = True
    return cap


def _causal_uniform(t: int) -> np.ndarray:
    a = np.tril(np.ones((t, t)))
    return a / a.sum(-1, keepdims=True)


def _sinky(t: int, mass: float, sink: int = 0) -> np.ndarray:
    """Each query puts ``mass`` on key ``sink`` (once it sees it) and spreads the rest uniformly."""
    a = _causal_uniform(t) * (1 - mass)
    a[sink:, sink] += mass
    a[:sink] = _causal_uniform(t)[:sink]
    return a / a.sum(-1, keepdims=True)


def _local(t: int) -> np.ndarray:
    a = np.zeros((t, t))
    for i in range(t):
        a[i, max(0, i - 2) : i + 1] = 1
    return a / a.sum(-1, keepdims=True)


def test_sink_detected_in_sink_heads_only():
    t = 64
    attn = np.stack([np.stack([_sinky(t, 0.6), _causal_uniform(t), _local(t), _sinky(t, 0.5, sink=3)])])
    frame = analyze(_capture(attn), [f"w{i}" for i in range(t)])
    assert frame.sink_tokens == [0, 3]
    assert frame.sink_rate[0] == pytest.approx(0.25) and frame.sink_rate[3] == pytest.approx(0.25)
    assert frame.sink_rate[1:3].sum() == 0
    roles = frame.head_role_names[0]
    assert roles[0] == "sink" and roles[2] == "local" and roles[1] == "diffuse" and roles[3] == "sink"
    assert frame.head_sink_mass[0, 0] > 0.5 and frame.head_sink_mass[0, 2] < 0.2
    assert frame.head_locality[0, 2] == pytest.approx(1.0)
    assert frame.head_entropy[0, 1] == pytest.approx(1.0, abs=1e-4)


def test_last_keys_seen_by_few_queries_are_not_sinks():
    t = 40
    a = _causal_uniform(t)
    a[-3:, -3] += 5.0  # the last queries pile onto key T-3: alpha is large but only 3 queries see it
    a /= a.sum(-1, keepdims=True)
    frame = analyze(_capture(a[None, None]), [str(i) for i in range(t)])
    assert frame.alpha[0, 0, t - 3] > 0.3
    assert t - 3 not in frame.sink_tokens


def test_uniform_attention_on_short_sequence_is_not_a_sink():
    t = 8  # key 0 gets alpha 0.34 > eps from uniform attention alone
    frame = analyze(_capture(_causal_uniform(t)[None, None]), [str(i) for i in range(t)])
    assert frame.alpha[0, 0, 0] > 0.3
    assert frame.sink_tokens == []


def test_heavy_hitters_exclude_sinks_and_rank_by_accumulated_attention():
    t = 50
    a = _sinky(t, 0.5)
    a[20:, 17] += 0.3
    a[30:, 33] += 0.2
    a /= a.sum(-1, keepdims=True)
    frame = analyze(_capture(a[None, None]), [str(i) for i in range(t)], heavy_hitter_k=2)
    assert frame.sink_tokens == [0]
    assert frame.heavy_hitters == [17, 33]
    mean_frame = analyze(_capture(a[None, None]), [str(i) for i in range(t)], heavy_hitter_k=2,
                         heavy_hitter_score="mean")
    assert 0 not in mean_frame.heavy_hitters and 17 in mean_frame.heavy_hitters


def test_frame_round_trips(tmp_path):
    t = 32
    attn = np.stack([np.stack([_sinky(t, 0.6), _local(t)])] * 2)
    frame = analyze(_capture(attn), [f"w{i}" for i in range(t)])
    path = frame.save(tmp_path / "frame")
    assert path.suffix == ".npz"
    back = AttentionFrame.load(path)
    assert back.sink_tokens == frame.sink_tokens and back.tokens == frame.tokens
    assert back.head_roles == frame.head_roles
    np.testing.assert_array_equal(back.sink_rate, frame.sink_rate)
    clone = pickle.loads(pickle.dumps(frame))
    assert clone.heavy_hitters == frame.heavy_hitters
    d = frame.to_dict()
    assert d["sink_tokens"] == [0] and len(d["head_roles"]) == 4 and d["sink_rate"][0] == 0.5
    with pytest.raises(ValueError, match="not a SinkVis AttentionFrame"):
        np.savez(tmp_path / "other.npz", x=np.zeros(3))
        AttentionFrame.load(tmp_path / "other.npz")


def test_frame_plot_has_sink_rate_and_role_grid():
    import matplotlib

    matplotlib.use("Agg")
    t = 32
    attn = np.stack([np.stack([_sinky(t, 0.6), _local(t)])] * 3)
    fig = analyze(_capture(attn), [f"w{i}" for i in range(t)]).plot()
    assert len(fig.axes) >= 2
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    img = np.asarray(canvas.buffer_rgba())
    import matplotlib.pyplot as plt

    assert fig not in map(plt.figure, plt.get_fignums()), "not left open in pyplot (no double display)"
    assert img.std() > 10


def test_bad_options_are_refused():
    cap = _capture(_causal_uniform(16)[None, None])
    toks = [str(i) for i in range(16)]
    with pytest.raises(ValueError, match="eps must be between 0 and 1"):
        analyze(cap, toks, eps=2)
    with pytest.raises(ValueError, match="heavy_hitter_score must be one of"):
        analyze(cap, toks, heavy_hitter_score="max")
    with pytest.raises(ValueError, match="min_queries must be an integer >= 1"):
        analyze(cap, toks, min_queries=0)
    with pytest.raises(ValueError, match="heavy_hitter_k must be an integer >= 0"):
        analyze(cap, toks, heavy_hitter_k=-1)


def test_random_model_has_no_sink_token(make_tiny):
    model = make_tiny("llama", "sdpa")
    ids = torch.tensor(np.random.default_rng(3).integers(0, 100, size=(1, 96)))
    with SinkVis(model, mode="stats") as sv, torch.no_grad():
        model(ids)
    frame = sv.analyze_attention()
    assert frame.sink_tokens == []
    assert frame.sink_rate.max() < 0.1
