"""Static figures: what a user would see in each PNG."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from sinkvis import plotting  # noqa: E402
from sinkvis.plotting import (  # noqa: E402
    downsample_max,
    format_bytes,
    plot_attention,
    plot_head_roles,
    plot_memory,
    plot_occupancy,
    plot_perplexity_vs_budget,
    plot_sink_rate,
)


def causal_attention(T: int, sink: int = 0, seed: int = 0) -> np.ndarray:
    """Row-stochastic causal attention with a strong sink column and a local diagonal."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(T, T)) + 2.0 * np.eye(T)
    logits[:, sink] += 4.0
    logits = np.where(np.tri(T, dtype=bool), logits, -np.inf)
    a = np.exp(logits - logits.max(axis=1, keepdims=True))
    return a / a.sum(axis=1, keepdims=True)


def streaming_occupancy(T: int, budget: int, sink_count: int) -> np.ndarray:
    t = np.arange(T)[:, None]
    j = np.arange(T)[None, :]
    return (j <= t) & ((j < sink_count) | (j > t - (budget - sink_count)))


def render(fig: Figure, path) -> np.ndarray:
    fig.savefig(path)  # at the figure dpi, so data -> pixel transforms hold
    assert path.is_file() and path.stat().st_size > 2000
    return mpimg.imread(path)


def assert_not_blank(img: np.ndarray) -> None:
    rgb = img[..., :3]
    assert rgb.std() > 0.05
    colours = np.unique((rgb.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    assert len(colours) > 20


def line_by_label(ax, label: str):
    lines = [ln for ln in ax.get_lines() if ln.get_label() == label]
    assert len(lines) == 1, [ln.get_label() for ln in ax.get_lines()]
    return lines[0]


# --------------------------------------------------------------------------------- plot_attention


def test_attention_png_shows_sinks_and_heavy_hitters_at_their_columns(tmp_path):
    T = 30
    tokens = [f"t{i}" for i in range(T)]
    fig = plot_attention(causal_attention(T), tokens, sink_tokens=[0, 3], heavy_hitters=[17, 3])
    img = render(fig, tmp_path / "attention.png")
    assert_not_blank(img)
    ax = fig.axes[0]
    assert list(line_by_label(ax, "sink").get_xdata()) == [0, 3]
    # a sink is not also drawn as a heavy hitter
    assert list(line_by_label(ax, "heavy hitter").get_xdata()) == [17]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == tokens
    red = matplotlib.colors.to_rgba(plotting.SINK_COLOR)
    assert ax.get_xticklabels()[3].get_color() in (plotting.SINK_COLOR, red)
    # the future (above the diagonal) is blank, the past is drawn
    data = ax.images[0].get_array()
    assert np.ma.is_masked(data[0, 5]) and not np.ma.is_masked(data[5, 0])


def test_attention_rendered_sink_column_is_darkest(tmp_path):
    T = 40
    attn = causal_attention(T, sink=0)
    fig = plot_attention(attn)
    img = render(fig, tmp_path / "a.png")
    ax = fig.axes[0]
    fig.canvas.draw()
    h = img.shape[0]

    def pixel(key, query):
        x, y = ax.transData.transform((key, query))
        return img[int(round(h - y)), int(round(x)), :3].mean()

    # column 0 (the sink) is darker than an ordinary key in the same rows (magma_r: dark = high)
    rows = range(20, 39)
    assert np.mean([pixel(0, q) for q in rows]) < np.mean([pixel(10, q) for q in rows]) - 0.2


def test_attention_occupancy_greys_exactly_the_evicted_cells(tmp_path):
    T, B, S = 32, 12, 4
    occ = streaming_occupancy(T, B, S)
    fig = plot_attention(causal_attention(T), occupancy=occ)
    render(fig, tmp_path / "occ.png")
    overlay = np.asarray(fig.axes[0].images[1].get_array())
    grey = overlay[..., 3] > 0
    expected = np.tri(T, dtype=bool) & ~occ
    np.testing.assert_array_equal(grey, expected)
    legend_texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert f"evicted ({int(expected.sum())} cells)" in legend_texts


def test_attention_long_sequence_is_downsampled_and_keeps_a_hot_column(tmp_path):
    T = 4096
    attn = np.tril(np.full((T, T), 1e-4, dtype=np.float32))
    hot = 1234
    attn[hot:, hot] = 0.6
    fig = plot_attention(attn, sink_tokens=[hot])
    img = render(fig, tmp_path / "long.png")
    assert_not_blank(img)
    ax = fig.axes[0]
    data = ax.images[0].get_array()
    assert max(data.shape) <= plotting.DEFAULT_MAX_PIXELS
    factor = round((ax.images[0].get_extent()[1] + 0.5) / data.shape[1])
    assert factor >= 8 and data.shape[0] == int(np.ceil(T / factor))
    col = hot // factor
    # the pooled column keeps the full weight below the hot token, its neighbours do not
    assert np.allclose(data[col + 5 :, col], 0.6)
    assert np.all(data[col + 5 :, col + 2] < 0.01)
    # axes stay in token positions, and the sink marker sits at the original position
    assert ax.get_xlim() == (-0.5, T - 0.5)
    assert list(line_by_label(ax, "sink").get_xdata()) == [hot]
    assert "max-pooled" in ax.get_title()
    # in the PNG the hot column is visibly dark
    fig.canvas.draw()
    h = img.shape[0]
    x, y = ax.transData.transform((hot + factor / 2, 3000))
    x_off, _ = ax.transData.transform((hot + 200, 3000))
    assert img[int(h - y), int(x), :3].mean() < img[int(h - y), int(x_off), :3].mean() - 0.3


def test_downsample_max_keeps_single_cells():
    m = np.zeros((1000, 1000))
    m[999, 0] = 1.0
    m[500, 731] = 0.5
    pooled, factor = downsample_max(m, max_size=100)
    assert factor == 10 and pooled.shape == (100, 100)
    assert pooled[99, 0] == 1.0 and pooled[50, 73] == 0.5 and pooled.sum() == 1.5
    same, one = downsample_max(np.ones((5, 5)), max_size=10)
    assert one == 1 and same.shape == (5, 5)


def test_attention_log_scale(tmp_path):
    fig = plot_attention(causal_attention(20), log=True)
    render(fig, tmp_path / "log.png")
    norm = fig.axes[0].images[0].norm
    assert isinstance(norm, matplotlib.colors.LogNorm)
    assert norm.vmin > 0 and norm.vmax / norm.vmin <= 1e4 + 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"attention": np.ones((3, 4))}, "square"),
        ({"attention": np.full((3, 3), np.nan)}, "NaN"),
        ({"attention": np.ones(3)}, "2-D"),
        ({"attention": np.eye(3), "tokens": ["a"]}, "tokens"),
        ({"attention": np.eye(3), "sink_tokens": [5]}, "sink_tokens"),
        ({"attention": np.eye(3), "occupancy": np.ones((2, 2), bool)}, "occupancy"),
    ],
)
def test_attention_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_attention(**kwargs)


def test_figures_are_not_left_open_in_pyplot(tmp_path):
    before = plt.get_fignums()
    plot_attention(causal_attention(10))
    plot_sink_rate(np.linspace(0, 1, 10))
    assert plt.get_fignums() == before


def test_figures_display_as_png_in_jupyter_without_pyplot():
    fig = plot_sink_rate(np.linspace(0, 1, 10))
    png = fig._repr_png_()  # what IPython shows for the returned figure when no inline backend is set up
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000


def test_draws_into_a_given_axes(tmp_path):
    fig, (a, b) = plt.subplots(1, 2)
    try:
        assert plot_attention(causal_attention(10), ax=a) is fig
        assert plot_sink_rate(np.linspace(0, 1, 10), ax=b) is fig
        assert len(a.images) == 1 and len(b.patches) == 10
    finally:
        plt.close(fig)


# --------------------------------------------------------------------------------- plot_sink_rate


def test_sink_rate_bars_threshold_and_labels(tmp_path):
    rate = np.full(50, 0.02)
    rate[0] = 0.53
    rate[7] = 0.2
    tokens = [f"w{i}" for i in range(50)]
    fig = plot_sink_rate(rate, tokens, threshold=0.1)
    assert_not_blank(render(fig, tmp_path / "rate.png"))
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, rate)
    red = matplotlib.colors.to_rgba(plotting.SINK_COLOR)
    reds = [i for i, p in enumerate(ax.patches) if np.allclose(p.get_facecolor(), red)]
    assert reds == [0, 7]
    threshold_line = line_by_label(ax, "threshold 0.1")
    assert list(threshold_line.get_ydata()) == [0.1, 0.1]
    annotations = [t.get_text() for t in ax.texts]
    assert annotations == ["0: w0", "7: w7"]


def red_pixels_in_column(img: np.ndarray, x: float) -> int:
    column = img[:, int(round(x)), :3]
    return int(((column[:, 0] > 0.6) & (column[:, 1] < 0.35) & (column[:, 2] < 0.35)).sum())


def test_sink_rate_long_sequence_shows_a_lone_sink(tmp_path):
    rate = np.zeros(4096)
    rate[0] = 0.6
    fig = plot_sink_rate(rate, threshold=0.1)
    img = render(fig, tmp_path / "rate_long.png")
    ax = fig.axes[0]
    fig.canvas.draw()
    x, _ = ax.transData.transform((0, 0.3))
    assert red_pixels_in_column(img, x) > 20  # the sink is drawn, although 4096 tokens share ~600 pixels


# -------------------------------------------------------------------------------- plot_head_roles


def test_head_roles_grid_letters_and_colours(tmp_path):
    rng = np.random.default_rng(1)
    mass = rng.uniform(size=(6, 4))
    names = ["sink", "local", "diffuse", "mixed"]
    roles = [[names[(i + j) % 4] for j in range(4)] for i in range(6)]
    fig = plot_head_roles(mass, roles, layers=[10, 11, 12, 13, 14, 15])
    assert_not_blank(render(fig, tmp_path / "roles.png"))
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), mass)
    letters = [t.get_text() for t in ax.texts]
    assert len(letters) == 24 and letters[:4] == ["S", "L", "D", "M"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["10", "11", "12", "13", "14", "15"]


def test_head_roles_from_frame_dicts_and_codes():
    mass = np.array([[0.9, 0.1], [0.2, 0.5]])
    dicts = [
        {"layer": 3, "head": 0, "role": "sink"},
        {"layer": 3, "head": 1, "role": "local"},
        {"layer": 7, "head": 0, "role": "diffuse"},
        {"layer": 7, "head": 1, "role": "mixed"},
    ]
    fig = plot_head_roles(mass, dicts, layers=[3, 7])
    assert [t.get_text() for t in fig.axes[0].texts] == ["S", "L", "D", "M"]
    fig = plot_head_roles(mass, [[0, 1], [2, 3]])
    assert [t.get_text() for t in fig.axes[0].texts] == ["S", "L", "D", "M"]
    with pytest.raises(ValueError, match="shape"):
        plot_head_roles(mass, [["sink"]])


# --------------------------------------------------------------------------------- plot_occupancy


def test_occupancy_one_strip_per_policy(tmp_path):
    T = 40
    tokens = [f"w{i}" for i in range(T)]
    masks = {
        "full": np.ones(T, bool),
        "sliding_window": np.arange(T) >= T - 16,
        "streaming_llm": streaming_occupancy(T, 16, 4),  # occupancy: the last row is drawn
    }
    fig = plot_occupancy(masks, tokens)
    assert_not_blank(render(fig, tmp_path / "strips.png"))
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["full  (40/40 kept)", "sliding_window  (16/40 kept)", "streaming_llm  (16/40 kept)"]
    strips = np.asarray(ax.images[0].get_array())
    assert strips.shape == (3, T)
    np.testing.assert_array_equal(strips[2], streaming_occupancy(T, 16, 4)[-1])


def test_occupancy_long_sequence_keeps_isolated_kept_tokens():
    T = 5000
    mask = np.zeros(T, bool)
    mask[0] = True
    mask[-100:] = True
    fig = plot_occupancy({"streaming_llm": mask}, max_size=1000)
    strips = np.asarray(fig.axes[0].images[0].get_array())
    assert strips.shape == (1, 1000)
    assert strips[0, 0] == 1 and strips[0, 500] == 0 and strips[0, -1] == 1


def test_occupancy_long_sequence_renders_the_sinks(tmp_path):
    T = 3187
    mask = np.zeros(T, bool)
    mask[:4] = True
    mask[-252:] = True
    fig = plot_occupancy({"sliding_window": np.arange(T) >= T - 256, "streaming_llm": mask})
    img = render(fig, tmp_path / "strips_long.png")
    ax = fig.axes[0]
    fig.canvas.draw()
    h = img.shape[0]
    kept = np.array(matplotlib.colors.to_rgb(plotting.KEPT_COLOR))

    def colour(pos, row):
        x, y = ax.transData.transform((pos, row + 0.25))  # off the row's tick mark
        return img[int(h - y), int(x) + 1, :3]

    assert np.allclose(colour(1, 1), kept, atol=0.08)  # the 4 sinks of streaming_llm are visible
    assert not np.allclose(colour(1, 0), kept, atol=0.08)  # sliding_window dropped them


def test_occupancy_bad_input():
    with pytest.raises(ValueError, match="empty"):
        plot_occupancy({})
    with pytest.raises(ValueError, match="same length"):
        plot_occupancy({"a": np.ones(4, bool), "b": np.ones(5, bool)})


# ---------------------------------------------------------------------- plot_perplexity_vs_budget


def eval_rows():
    rows = []
    for b in (16, 32, 64, 128):
        rows.append({"policy": "full", "budget": b, "sink_count": 4, "perplexity": 12.0})
        rows.append({"policy": "sliding_window", "budget": b, "sink_count": 4, "perplexity": 12 + 900 / b})
        rows.append({"policy": "streaming_llm", "budget": b, "sink_count": 4, "perplexity": 12 + 30 / b})
        rows.append({"policy": "h2o", "budget": b, "sink_count": 4, "perplexity": 12 + 40 / b})
    return rows


def test_perplexity_one_line_per_policy_and_full_reference(tmp_path):
    fig = plot_perplexity_vs_budget(eval_rows())
    assert_not_blank(render(fig, tmp_path / "ppl.png"))
    ax = fig.axes[0]
    policy_lines = [ln for ln in ax.get_lines() if ln.get_label() != "full cache"]
    assert [ln.get_label() for ln in policy_lines] == ["sliding_window", "streaming_llm", "h2o"]
    assert list(policy_lines[1].get_xdata()) == [16, 32, 64, 128]
    assert list(line_by_label(ax, "full cache").get_ydata()) == [12.0, 12.0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["sliding_window", "streaming_llm", "h2o", "full cache"]


def test_perplexity_other_metric_and_sink_count_sweep():
    rows = [
        {"policy": "streaming_llm", "budget": b, "sink_count": s, "attention_recall": 0.5 + b / 1000}
        for s in (1, 4)
        for b in (32, 64)
    ]
    fig = plot_perplexity_vs_budget(rows, metric="attention_recall", full_perplexity=1.0)
    labels = [ln.get_label() for ln in fig.axes[0].get_lines()]
    assert labels == ["streaming_llm (sink_count=1)", "streaming_llm (sink_count=4)", "full cache"]
    assert fig.axes[0].get_ylabel() == "attention recall"
    with pytest.raises(ValueError, match="empty"):
        plot_perplexity_vs_budget([])
    with pytest.raises(ValueError, match="kl"):
        plot_perplexity_vs_budget(rows, metric="kl")


# ------------------------------------------------------------------------------------ plot_memory


def test_memory_bars_from_stats(tmp_path):
    stats = [
        {
            "kv_cache_bytes_full": 5_529_600,
            "kv_cache_bytes_budget": b * 23_040,
            "budget": b,
            "capture_bytes": 300_000_000,
            "process_rss_bytes": 1_200_000_000,
            "process_peak_rss_bytes": 1_500_000_000,
            "device": "cpu",
        }
        for b in (64, 128)
    ]
    fig = plot_memory(stats)
    assert_not_blank(render(fig, tmp_path / "mem.png"))
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [
        "KV cache, full",
        "KV cache, budget 64",
        "KV cache, budget 128",
        "SinkVis capture",
        "process RSS",
        "process peak RSS",
    ]
    widths = [p.get_width() for p in ax.patches]
    assert widths[:3] == [5_529_600, 64 * 23_040, 128 * 23_040]
    assert "5.27 MiB" in [t.get_text() for t in ax.texts]


def test_format_bytes():
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536) == "1.50 KiB"
    assert format_bytes(3 * 1024**2) == "3.00 MiB"
    assert format_bytes(50 * 1024**3) == "50.0 GiB"
