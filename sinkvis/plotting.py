"""Static matplotlib figures of attention, sinks, head roles, eviction and their cost.

Every function takes plain numpy arrays (or lists and dicts of them) — no torch — and returns a
:class:`matplotlib.figure.Figure`. Pass ``ax=`` to draw into an axes of your own figure; without it the
function makes a new figure that is *not* registered with pyplot, so nothing is shown twice in a
notebook, no GUI backend is needed, and nothing is left open: leave the figure as the last value of a
notebook cell to display it, or save it with ``fig.savefig("attention.png")``.

Long sequences are downsampled by max-pooling (a pixel shows the largest weight of the cells it
covers), so a single sink column stays visible at any length.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colors as mcolors
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import ScaledTranslation, blended_transform_factory

__all__ = [
    "ROLE_LETTERS",
    "downsample_max",
    "format_bytes",
    "plot_attention",
    "plot_head_roles",
    "plot_memory",
    "plot_occupancy",
    "plot_perplexity_vs_budget",
    "plot_sink_rate",
]

#: Letter drawn in each cell of :func:`plot_head_roles`, by role name.
ROLE_LETTERS: dict[str, str] = {"sink": "S", "local": "L", "diffuse": "D", "mixed": "M"}

SINK_COLOR = "#d62728"
HEAVY_HITTER_COLOR = "#ff7f0e"
EVICTED_COLOR = "#b0b0b0"
KEPT_COLOR = "#1f4e9c"
DEFAULT_MAX_PIXELS = 512
_MAX_TICK_LABELS = 48
_POLICY_STYLES = ("-o", "-s", "-^", "-D", "-v", "-P", "-X", "-*", "-<", "->")


# --------------------------------------------------------------------------------------------- helpers


class _DisplayFigure(Figure):
    """A pyplot-free figure that also shows itself as a PNG in Jupyter when pyplot was never imported."""

    def _repr_png_(self) -> bytes:
        import io

        buf = io.BytesIO()
        self.savefig(buf, format="png", bbox_inches="tight")
        return buf.getvalue()


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """Return ``(figure, axes)``: the given axes' figure, or a new pyplot-free figure."""
    if ax is not None:
        return ax.figure, ax  # type: ignore[return-value]
    fig = _DisplayFigure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _as_float_array(values: Any, name: str, ndim: int) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def _check_tokens(tokens: Sequence[str] | None, length: int) -> list[str] | None:
    if tokens is None:
        return None
    tokens = [str(t) for t in tokens]
    if len(tokens) != length:
        raise ValueError(f"got {len(tokens)} tokens for a sequence of length {length}")
    return tokens


def _check_positions(positions: Iterable[int], length: int, name: str) -> list[int]:
    out = sorted({int(p) for p in positions})
    bad = [p for p in out if not 0 <= p < length]
    if bad:
        raise ValueError(f"{name} has positions outside 0..{length - 1}: {bad[:5]}")
    return out


def _short(token: str, width: int = 12) -> str:
    token = token.replace("\n", "⏎").replace("\t", "⇥").replace("$", r"\$")
    return token if len(token) <= width else token[: width - 1] + "…"


def _tick_positions(length: int, max_labels: int = _MAX_TICK_LABELS) -> list[int]:
    """Every position for short sequences, else round positions (steps of 1, 2 or 5 x 10^k), ~8-16."""
    if length <= max_labels:
        return list(range(length))
    raw = length / 16
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return list(range(0, length, int(step)))


def _set_token_ticks(
    ax: Axes, axis: str, length: int, tokens: list[str] | None, highlight: Mapping[int, str] | None = None
) -> None:
    """Label token positions on one axis; ``highlight`` colours the labels of chosen positions."""
    positions = _tick_positions(length)
    if tokens is not None and length <= _MAX_TICK_LABELS:
        labels = [_short(t) for t in tokens]
    elif tokens is not None:
        labels = [f"{p} {_short(tokens[p], 8)}" for p in positions]
    else:
        labels = [str(p) for p in positions]
    size = _label_size(len(positions))
    if axis == "x":
        ax.set_xticks(positions)
        texts = ax.set_xticklabels(labels, rotation=90 if tokens is not None else 0, fontsize=size)
    else:
        ax.set_yticks(positions)
        texts = ax.set_yticklabels(labels, fontsize=size)
    for pos, text in zip(positions, texts, strict=True):
        if highlight and pos in highlight:
            text.set_color(highlight[pos])
            text.set_fontweight("bold")


def _axes_pixels(ax: Axes) -> tuple[int, int]:
    """Approximate width and height of ``ax`` in pixels at the figure's dpi (before layout)."""
    fig = ax.figure
    pos = ax.get_position()
    width, height = fig.get_size_inches() * fig.dpi  # type: ignore[union-attr]
    return max(1, int(pos.width * width)), max(1, int(pos.height * height))


def _auto_cells(ax: Axes, max_size: int | None, cap: int, axis: int) -> int:
    """Most cells along an axis: ``max_size``, or as many as the axes has pixels (at most ``cap``).

    With no more cells than pixels, nearest-neighbour rendering never drops a cell, so a single sink column
    or kept token stays visible in the picture, not only in the pooled array.
    """
    if max_size is not None:
        if max_size < 1:
            raise ValueError("max_size must be >= 1")
        return int(max_size)
    return max(16, min(cap, _axes_pixels(ax)[axis]))


def _label_size(count: int) -> float:
    return 8.0 if count <= 24 else 6.5 if count <= 40 else 5.5


def downsample_max(matrix: np.ndarray, max_size: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, int]:
    """Max-pool a 2-D array so that neither side exceeds ``max_size``.

    Parameters
    ----------
    matrix : numpy.ndarray
        A 2-D array, e.g. attention ``[T, T]`` or keep masks ``[P, T]``.
    max_size : int, default 512
        Largest number of rows and columns of the result.

    Returns
    -------
    pooled : numpy.ndarray
        ``matrix`` max-pooled over square ``factor x factor`` blocks (the last block padded with the
        array's minimum), so a single large cell — a sink column — survives the reduction.
    factor : int
        The pooling factor (1 when the array is already small enough).

    Examples
    --------
    >>> pooled, factor = downsample_max(np.eye(1024), max_size=256)
    >>> pooled.shape, factor
    ((256, 256), 4)
    """
    arr = np.asarray(matrix)
    if arr.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {arr.shape}")
    if max_size < 1:
        raise ValueError("max_size must be >= 1")
    factor = max(1, math.ceil(max(arr.shape) / max_size))
    if factor == 1:
        return arr, 1
    return _pool(arr, factor, factor, "max"), factor


def _pool(arr: np.ndarray, fr: int, fc: int, how: str) -> np.ndarray:
    """Pool ``arr`` over ``fr x fc`` blocks with max or sum (padding with the array's minimum / zero)."""
    rows, cols = arr.shape
    nr, nc = math.ceil(rows / fr), math.ceil(cols / fc)
    if nr * fr != rows or nc * fc != cols:
        fill = arr.min() if how == "max" else 0
        padded = np.full((nr * fr, nc * fc), fill, dtype=arr.dtype)
        padded[:rows, :cols] = arr
        arr = padded
    blocks = arr.reshape(nr, fr, nc, fc)
    return blocks.max(axis=(1, 3)) if how == "max" else blocks.sum(axis=(1, 3))


def _mark_columns(ax: Axes, positions: list[int], color: str, label: str, marker: str) -> Line2D | None:
    """Draw markers just above the top edge of the axes at data x ``positions``."""
    if not positions:
        return None
    lift = ScaledTranslation(0, 5 / 72, ax.figure.dpi_scale_trans)
    trans = blended_transform_factory(ax.transData, ax.transAxes) + lift
    (line,) = ax.plot(
        positions,
        [1.0] * len(positions),
        linestyle="none",
        marker=marker,
        markersize=7,
        color=color,
        markeredgecolor="white",
        markeredgewidth=0.6,
        transform=trans,
        clip_on=False,
        label=label,
        zorder=5,
    )
    return line


# ----------------------------------------------------------------------------------------- attention


def plot_attention(
    attention: np.ndarray,
    tokens: Sequence[str] | None = None,
    *,
    sink_tokens: Iterable[int] = (),
    heavy_hitters: Iterable[int] = (),
    occupancy: np.ndarray | None = None,
    log: bool = False,
    max_size: int | None = None,
    cmap: str = "magma_r",
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Heatmap of one head's attention, with sinks and heavy hitters marked and evicted cells greyed.

    Parameters
    ----------
    attention : numpy.ndarray
        Attention weights ``[T, T]``; row = query position, column = key position. Cells above the
        diagonal (the future) are left blank.
    tokens : sequence of str, optional
        Display strings of the ``T`` tokens, used as tick labels (every token up to 48 tokens, a
        sample of positions beyond).
    sink_tokens : iterable of int, optional
        Key positions of attention sinks: a red marker above their column (and a red tick label).
    heavy_hitters : iterable of int, optional
        Key positions of heavy hitters: an orange marker above their column (and an orange label).
    occupancy : numpy.ndarray, optional
        Bool ``[T, T]``; ``occupancy[t, j]`` is True when key ``j`` is in the cache when query ``t``
        attends (see :func:`sinkvis.simulation.run_policy`). Causal cells with ``False`` are drawn
        grey, on top of the weights.
    log : bool, default False
        Logarithmic colour scale (four decades below the largest weight), which shows the structure
        hidden under a dominant sink. The colour scale leaves out query 0 (which can only attend to
        itself, with weight 1).
    max_size : int, optional
        Largest image side in cells; by default as many as the axes has pixels, at most 512. Longer
        sequences are max-pooled in square blocks, so a sink column stays visible in the picture; a pooled
        block is grey when most of its causal cells are evicted. Axes stay in token positions.
    cmap : str, default "magma_r"
        Matplotlib colour map of the weights.
    title : str, optional
        Axes title (default: "Attention" plus the pooling factor when pooled).
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure otherwise.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the heatmap and its colour bar.

    Raises
    ------
    ValueError
        If ``attention`` is not square and finite, or tokens, positions or occupancy do not match it.

    Examples
    --------
    >>> fig = plot_attention(sv.attention(layer=-1, head=0), sv.tokens, sink_tokens=frame.sink_tokens)
    >>> fig.savefig("attention.png")
    """
    attn = _as_float_array(attention, "attention", 2)
    length = attn.shape[0]
    if attn.shape != (length, length):
        raise ValueError(f"attention must be square [T, T], got shape {attn.shape}")
    tokens = _check_tokens(tokens, length)
    sinks = _check_positions(sink_tokens, length, "sink_tokens")
    hitters = [p for p in _check_positions(heavy_hitters, length, "heavy_hitters") if p not in sinks]
    if max_size is not None and max_size < 1:
        raise ValueError("max_size must be >= 1")

    side = 6.4 if length > 24 else 5.2
    fig, ax = _new_axes(ax, (side + 1.2, side))
    causal = np.tri(length, dtype=bool)
    attn = np.where(causal, attn, 0.0)
    cells = min(_auto_cells(ax, max_size, DEFAULT_MAX_PIXELS, 0), _auto_cells(ax, max_size, DEFAULT_MAX_PIXELS, 1))
    factor = max(1, math.ceil(length / cells))
    if factor > 1:
        image = _pool(attn, factor, factor, "max")
        causal_img = _pool(causal.astype(np.int32), factor, factor, "sum")
    else:
        image, causal_img = attn, causal.astype(np.int32)
    valid = causal_img > 0

    # The first query can only attend to itself (weight 1): leave it out of the colour scale.
    vmax = float(attn[1:].max()) if length > 1 else 1.0
    if vmax <= 0:
        vmax = 1.0
    if log:
        positive = image[valid & (image > 0)]
        vmin = max(vmax * 1e-4, float(positive.min()) if positive.size else vmax * 1e-4)
        norm: mcolors.Normalize = mcolors.LogNorm(vmin=vmin, vmax=vmax)
        shown = np.where(valid, np.maximum(image, vmin), np.nan)
    else:
        norm = mcolors.Normalize(vmin=0.0, vmax=vmax)
        shown = np.where(valid, image, np.nan)

    n_img = image.shape[0]
    extent = (-0.5, n_img * factor - 0.5, n_img * factor - 0.5, -0.5)
    colormap = _get_cmap(cmap).with_extremes(bad=(1, 1, 1, 0))
    im = ax.imshow(shown, cmap=colormap, norm=norm, interpolation="nearest", extent=extent, aspect="equal")

    n_evicted = 0
    if occupancy is not None:
        occ = np.asarray(occupancy)
        if occ.shape != (length, length):
            raise ValueError(f"occupancy must have shape {(length, length)}, got {occ.shape}")
        evicted = causal & ~occ.astype(bool)
        n_evicted = int(evicted.sum())
        if factor > 1:
            evicted_frac = _pool(evicted.astype(np.int32), factor, factor, "sum") / np.maximum(causal_img, 1)
            grey = evicted_frac > 0.5
        else:
            grey = evicted
        overlay = np.zeros((*grey.shape, 4))
        overlay[grey] = mcolors.to_rgba(EVICTED_COLOR, 0.92)
        ax.imshow(overlay, interpolation="nearest", extent=extent, aspect="equal", zorder=2)

    ax.set_xlim(-0.5, length - 0.5)
    ax.set_ylim(length - 0.5, -0.5)
    for spine in ax.spines.values():  # a frame would hide the first column: the sink
        spine.set_visible(False)
    ax.set_xlabel("key position")
    ax.set_ylabel("query position")
    highlight = {p: HEAVY_HITTER_COLOR for p in hitters} | {p: SINK_COLOR for p in sinks}
    _set_token_ticks(ax, "x", length, tokens, highlight)
    _set_token_ticks(ax, "y", length, tokens, highlight)

    _mark_columns(ax, sinks, SINK_COLOR, "sink", "v")
    _mark_columns(ax, hitters, HEAVY_HITTER_COLOR, "heavy hitter", "v")
    handles: list[Any] = []
    if sinks:
        handles.append(Line2D([], [], color=SINK_COLOR, marker="v", linestyle="none", label="sink"))
    if hitters:
        handles.append(Line2D([], [], color=HEAVY_HITTER_COLOR, marker="v", linestyle="none", label="heavy hitter"))
    if occupancy is not None:
        handles.append(Patch(color=EVICTED_COLOR, label=f"evicted ({n_evicted} cells)"))
    if handles:
        ax.legend(handles=handles, loc="upper right", fontsize=8, framealpha=0.9)

    cbar = fig.colorbar(im, ax=ax, shrink=0.8, pad=0.02, extend="max" if image.max() > vmax else "neither")
    cbar.set_label("attention weight" + (" (log scale)" if log else ""))
    if title is None:
        title = "Attention"
    ax.set_title(title + (f" (max-pooled {factor}x{factor})" if factor > 1 else ""), pad=12)
    return fig


def _get_cmap(name: str) -> mcolors.Colormap:
    import matplotlib

    return matplotlib.colormaps[name]


# ----------------------------------------------------------------------------------------- sink rate


def plot_sink_rate(
    sink_rate: np.ndarray,
    tokens: Sequence[str] | None = None,
    *,
    threshold: float | None = None,
    max_labels: int = 5,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Bar chart of each token's sink rate: the share of heads in which the token is a sink.

    Parameters
    ----------
    sink_rate : numpy.ndarray
        ``[T]`` values in ``[0, 1]``, e.g. :attr:`AttentionFrame.sink_rate`.
    tokens : sequence of str, optional
        Display strings; the tokens with the highest rates above ``threshold`` are annotated.
    threshold : float, optional
        Minimum sink rate of a sink token: drawn as a dashed line, bars above it in red.
    max_labels : int, default 5
        Most tokens annotated with their text.
    title : str, optional
        Axes title (default "Sink rate per token").
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure otherwise.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the bar chart.

    Raises
    ------
    ValueError
        If ``sink_rate`` is not a finite 1-D array or ``tokens`` has another length.

    Examples
    --------
    >>> frame = sv.analyze_attention()
    >>> plot_sink_rate(frame.sink_rate, frame.tokens, threshold=0.1)
    """
    rate = _as_float_array(sink_rate, "sink_rate", 1)
    length = rate.shape[0]
    tokens = _check_tokens(tokens, length)
    fig, ax = _new_axes(ax, (8.0, 3.4))
    positions = np.arange(length)
    above = rate >= threshold if threshold is not None else np.zeros(length, dtype=bool)
    colours = np.where(above, SINK_COLOR, "#4c72b0")
    if length <= 200:
        ax.bar(positions, rate, width=0.85, color=colours, linewidth=0)
    else:  # bars would be thinner than a pixel: lines keep every token, a lone sink included, visible
        nonzero = rate > 0
        ax.vlines(positions[nonzero], 0, rate[nonzero], colors=colours[nonzero], linewidth=1.2)
    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_xlim(-0.5 - length * 0.01, length - 0.5 + length * 0.01)
    ax.set_ylim(0, max(1.0, float(rate.max()) * 1.08))
    ax.set_xlabel("token position")
    ax.set_ylabel("sink rate (share of heads)")
    ax.set_title(title or "Sink rate per token")
    ax.grid(axis="y", alpha=0.3)
    candidates = np.flatnonzero(above) if threshold is not None else np.argsort(rate)[::-1][:max_labels]
    top = sorted(candidates, key=lambda p: -rate[p])[:max_labels]
    for p in top:
        text = f"{p}" if tokens is None else f"{p}: {_short(tokens[p])}"
        ax.annotate(
            text,
            (p, rate[p]),
            xytext=(3, 3),
            textcoords="offset points",
            fontsize=8,
            rotation=30 if length > 1 else 0,
            color=SINK_COLOR if above[p] else "black",
        )
    return fig


# ---------------------------------------------------------------------------------------- head roles


def _role_letters(roles: Any, shape: tuple[int, int], layers: Sequence[int] | None) -> list[list[str]]:
    """Normalise roles given as [L][H] names/codes or as AttentionFrame.head_roles dicts."""
    n_layers, n_heads = shape
    if isinstance(roles, (list, tuple)) and roles and isinstance(roles[0], Mapping):
        grid = [[""] * n_heads for _ in range(n_layers)]
        index = {lay: i for i, lay in enumerate(layers)} if layers is not None else None
        for entry in roles:
            layer, head = int(entry["layer"]), int(entry["head"])
            row = index.get(layer, layer) if index is not None else layer
            if not (0 <= row < n_layers and 0 <= head < n_heads):
                raise ValueError(f"head role for layer {layer}, head {head} is outside the {shape} grid")
            grid[row][head] = _letter(entry["role"])
        return grid
    arr = np.asarray(roles, dtype=object)
    if arr.shape != shape:
        raise ValueError(f"roles must have shape {shape} like sink_mass, got {arr.shape}")
    return [[_letter(arr[i, j]) for j in range(n_heads)] for i in range(n_layers)]


def _letter(role: Any) -> str:
    if isinstance(role, (int, np.integer)):
        names = list(ROLE_LETTERS)
        return ROLE_LETTERS[names[int(role)]] if 0 <= int(role) < len(names) else str(role)
    text = str(role)
    return ROLE_LETTERS.get(text.lower(), text[:1].upper())


def plot_head_roles(
    sink_mass: np.ndarray,
    roles: Any = None,
    layers: Sequence[int] | None = None,
    *,
    cmap: str = "Reds",
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Layers x heads grid coloured by each head's sink mass, with its role letter in each cell.

    Parameters
    ----------
    sink_mass : numpy.ndarray
        ``[L, H]`` share of each head's attention that lands on sink tokens
        (:attr:`AttentionFrame.head_sink_mass`).
    roles : optional
        ``[L][H]`` role names (``"sink"``, ``"local"``, ``"diffuse"``, ``"mixed"``), their letters, or
        integer codes in that order; or the list of dicts of :attr:`AttentionFrame.head_roles`
        (``layer``, ``head``, ``role``). Each cell shows the role's letter (S, L, D, M).
    layers : sequence of int, optional
        Model layer index of each row (default ``0..L-1``).
    cmap : str, default "Reds"
        Colour map of the sink mass (0 to 1).
    title : str, optional
        Axes title.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure otherwise.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the grid and its colour bar.

    Raises
    ------
    ValueError
        If the shapes of ``sink_mass``, ``roles`` and ``layers`` disagree.

    Examples
    --------
    >>> plot_head_roles(frame.head_sink_mass, frame.head_roles, layers=frame.layers)
    """
    mass = _as_float_array(sink_mass, "sink_mass", 2)
    n_layers, n_heads = mass.shape
    if layers is not None:
        layers = [int(v) for v in layers]
        if len(layers) != n_layers:
            raise ValueError(f"got {len(layers)} layer indices for {n_layers} rows of sink_mass")
    letters = _role_letters(roles, mass.shape, layers) if roles is not None else None

    cell = 0.36 if n_layers > 12 else 0.5
    fig, ax = _new_axes(ax, (max(3.6, n_heads * cell * 1.1 + 2.2), max(3.0, n_layers * cell * 0.78 + 1.4)))
    im = ax.imshow(mass, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(n_heads))
    ax.set_xticklabels([str(h) for h in range(n_heads)], fontsize=8)
    row_labels = layers if layers is not None else list(range(n_layers))
    step = 1 if n_layers <= 32 else math.ceil(n_layers / 32)
    ax.set_yticks(range(0, n_layers, step))
    ax.set_yticklabels([str(row_labels[i]) for i in range(0, n_layers, step)], fontsize=7 if n_layers > 16 else 8)
    ax.set_xlabel("head")
    ax.set_ylabel("layer")
    ax.set_xticks(np.arange(-0.5, n_heads, 1), minor=True)
    ax.set_yticks(np.arange(-0.5, n_layers, 1), minor=True)
    ax.grid(which="minor", color="white", linewidth=0.8)
    ax.tick_params(which="minor", length=0)
    if letters is not None and n_layers * n_heads <= 2000:
        size = 7 if n_layers > 16 else 9
        for i in range(n_layers):
            for j in range(n_heads):
                ax.text(
                    j,
                    i,
                    letters[i][j],
                    ha="center",
                    va="center",
                    fontsize=size,
                    color="white" if mass[i, j] > 0.55 else "black",
                )
    cbar = fig.colorbar(im, ax=ax, shrink=0.85, pad=0.02)
    cbar.set_label("sink mass")
    if title is None:
        title = "Head roles" + ("  (S sink, L local, D diffuse, M mixed)" if letters is not None else "")
    ax.set_title(title, fontsize=10)
    return fig


# ----------------------------------------------------------------------------------------- occupancy


def _final_keep_mask(mask: Any, name: str) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.ndim == 2 and arr.shape[0] == arr.shape[1]:
        arr = arr[-1]  # occupancy: the cache when the last query attends
    if arr.ndim != 1:
        raise ValueError(f"mask of {name!r} must be a keep mask [T] or an occupancy [T, T], got {arr.shape}")
    return arr.astype(bool)


def plot_occupancy(
    masks: Mapping[str, np.ndarray],
    tokens: Sequence[str] | None = None,
    *,
    max_size: int | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """One strip per policy showing which tokens are kept in the cache (coloured) and evicted (grey).

    Parameters
    ----------
    masks : mapping of str to numpy.ndarray
        Policy name to its keep mask ``[T]`` (bool), or to its occupancy ``[T, T]``, of which the last
        row — the cache after the last step — is drawn. All masks must have the same ``T``.
    tokens : sequence of str, optional
        Display strings, used as tick labels for short sequences.
    max_size : int, optional
        Most columns drawn; by default a third of the axes' width in pixels, so each column is at least
        3 pixels wide. Longer sequences are pooled so a column is coloured when any token it covers is
        kept (single kept sinks stay visible).
    title : str, optional
        Axes title.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure otherwise.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the strips; each row is labelled with the policy and its kept count.

    Raises
    ------
    ValueError
        If ``masks`` is empty or the masks differ in length.

    Examples
    --------
    >>> masks = {p: sv.simulate(p, budget=64).keep_mask for p in ["sliding_window", "streaming_llm"]}
    >>> plot_occupancy(masks, sv.tokens)
    """
    if not masks:
        raise ValueError("masks is empty: give at least one policy")
    names = list(masks)
    rows = [_final_keep_mask(masks[n], n) for n in names]
    length = rows[0].shape[0]
    if any(r.shape[0] != length for r in rows):
        raise ValueError(f"all masks must have the same length, got {[r.shape[0] for r in rows]}")
    tokens = _check_tokens(tokens, length)
    grid = np.stack(rows).astype(np.int8)
    fig, ax = _new_axes(ax, (9.0, 0.42 * len(names) + 1.5))
    # by default a column is at least 3 pixels wide, so a single kept token (a sink) is plain to see
    cells = _auto_cells(ax, max_size, 1024, 0) if max_size is not None else max(16, _axes_pixels(ax)[0] // 3)
    factor = max(1, math.ceil(length / cells))
    image = _pool(grid, 1, factor, "max") if factor > 1 else grid

    colormap = mcolors.ListedColormap([EVICTED_COLOR, KEPT_COLOR])
    ax.imshow(
        image,
        cmap=colormap,
        vmin=0,
        vmax=1,
        aspect="auto",
        interpolation="nearest",
        extent=(-0.5, image.shape[1] * factor - 0.5, len(names) - 0.5, -0.5),
    )
    ax.set_xlim(-0.5, length - 0.5)
    for spine in ax.spines.values():  # a frame would hide the first tokens: the sinks
        spine.set_visible(False)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels([f"{n}  ({int(r.sum())}/{length} kept)" for n, r in zip(names, rows, strict=True)])
    ax.set_yticks(np.arange(-0.5, len(names), 1), minor=True)
    ax.grid(which="minor", axis="y", color="white", linewidth=3)
    ax.tick_params(which="minor", length=0)
    _set_token_ticks(ax, "x", length, tokens)
    ax.set_xlabel("token position")
    ax.legend(
        handles=[Patch(color=KEPT_COLOR, label="kept"), Patch(color=EVICTED_COLOR, label="evicted")],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=8,
        frameon=False,
    )
    ax.set_title(title or "KV cache after the last token")
    return fig


# ------------------------------------------------------------------------------------------ the cost


def _group_rows(rows: Sequence[Mapping[str, Any]], metric: str) -> dict[str, list[tuple[float, float]]]:
    sink_counts: dict[str, set] = {}
    for row in rows:
        sink_counts.setdefault(str(row["policy"]), set()).add(row.get("sink_count"))
    series: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        policy = str(row["policy"])
        value = row.get(metric)
        if value is None or row.get("budget") is None:
            continue
        label = policy
        if len(sink_counts[policy]) > 1:
            label = f"{policy} (sink_count={row.get('sink_count')})"
        series.setdefault(label, []).append((float(row["budget"]), float(value)))
    return {k: sorted(v) for k, v in series.items()}


def plot_perplexity_vs_budget(
    rows: Sequence[Mapping[str, Any]],
    full_perplexity: float | None = None,
    *,
    metric: str = "perplexity",
    log_y: bool | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Perplexity (or another metric) against the cache budget, one line per policy.

    Parameters
    ----------
    rows : sequence of dict
        Rows with at least ``policy``, ``budget`` and the metric, e.g. ``EvaluationReport.rows``.
        Rows of the ``full`` policy are drawn as one horizontal reference line, not as a policy line.
        A policy evaluated with several ``sink_count`` values gets one line per value.
    full_perplexity : float, optional
        Full-cache reference value (dashed line); taken from the ``full`` rows when omitted.
    metric : str, default "perplexity"
        Row key to plot: ``"perplexity"``, ``"kl"``, ``"top1"``, ``"attention_recall"``, ...
    log_y : bool, optional
        Logarithmic y axis; by default on when the values span more than a factor of 20.
    title : str, optional
        Axes title.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure otherwise.

    Returns
    -------
    matplotlib.figure.Figure
        The figure; each policy line carries the policy name as its label.

    Raises
    ------
    ValueError
        If ``rows`` is empty or holds no value of ``metric``.

    Examples
    --------
    >>> report = sv.evaluate(budgets=[32, 64, 128])
    >>> plot_perplexity_vs_budget(report.rows)
    """
    if not rows:
        raise ValueError("rows is empty: evaluate at least one policy and budget")
    policy_rows = [r for r in rows if str(r.get("policy")) != "full"]
    full_rows = [r for r in rows if str(r.get("policy")) == "full" and r.get(metric) is not None]
    if full_perplexity is None and full_rows:
        full_perplexity = float(full_rows[0][metric])
    series = _group_rows(policy_rows, metric)
    if not series and full_perplexity is None:
        raise ValueError(f"no row has a value for {metric!r}")

    fig, ax = _new_axes(ax, (7.0, 4.4))
    values = [v for pts in series.values() for _, v in pts]
    for i, (label, pts) in enumerate(series.items()):
        xs, ys = zip(*pts, strict=True)
        ax.plot(xs, ys, _POLICY_STYLES[i % len(_POLICY_STYLES)], label=label, markersize=5, linewidth=1.6)
    if full_perplexity is not None:
        ax.axhline(full_perplexity, color="black", linestyle="--", linewidth=1.2, label="full cache")
        values.append(full_perplexity)
    budgets = sorted({x for pts in series.values() for x, _ in pts})
    if len(budgets) > 1 and budgets[-1] / max(budgets[0], 1e-9) >= 8:
        ax.set_xscale("log", base=2)
    if budgets:
        ax.set_xticks(budgets)
        ax.set_xticklabels([f"{b:g}" for b in budgets])
        if ax.get_xscale() == "log":
            ax.minorticks_off()
    positive = [v for v in values if v > 0]
    if log_y is None:
        log_y = bool(positive) and len(positive) == len(values) and max(positive) / min(positive) > 20
    if log_y:
        ax.set_yscale("log")
        ax.set_ylim(min(positive) / 1.15, max(positive) * 1.15)
    elif values:
        lo, hi = min(values), max(values)
        pad = 0.06 * (hi - lo) if hi > lo else 0.05 * max(abs(hi), 1.0)
        ax.set_ylim(lo - pad, hi + pad)  # keeps the reference line off the frame
    ax.set_xlabel("budget (KV entries kept)")
    ax.set_ylabel(metric.replace("_", " "))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or f"{metric.replace('_', ' ').capitalize()} under eviction")
    return fig


def format_bytes(num_bytes: float) -> str:
    """Human-readable byte count with binary units.

    Parameters
    ----------
    num_bytes : float
        A number of bytes.

    Returns
    -------
    str
        E.g. ``"512 B"``, ``"1.5 KiB"``, ``"3.20 MiB"``.

    Examples
    --------
    >>> format_bytes(3 * 1024**2)
    '3.00 MiB'
    """
    value = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            if unit == "B":
                return f"{value:.0f} B"
            return f"{value:.2f} {unit}" if abs(value) < 10 else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover


_MEMORY_LABELS = {
    "kv_cache_bytes_full": "KV cache, full",
    "capture_bytes": "SinkVis capture",
    "process_rss_bytes": "process RSS",
    "process_peak_rss_bytes": "process peak RSS",
    "cuda_allocated_bytes": "CUDA allocated",
    "cuda_reserved_bytes": "CUDA reserved",
    "cuda_peak_bytes": "CUDA peak",
}


def _memory_bars(stats: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> dict[str, float]:
    items = [stats] if isinstance(stats, Mapping) else list(stats)
    if not items:
        raise ValueError("stats is empty")
    if not any("kv_cache_bytes_full" in s for s in items):
        return {str(k): float(v) for s in items for k, v in s.items()}  # a plain label -> bytes mapping
    bars: dict[str, float] = {}
    first = items[0]
    bars[_MEMORY_LABELS["kv_cache_bytes_full"]] = float(first["kv_cache_bytes_full"])
    for s in items:
        if s.get("kv_cache_bytes_budget") is not None:
            label = f"KV cache, budget {s.get('budget', '?')}"
            bars[label] = float(s["kv_cache_bytes_budget"])
    for key, label in _MEMORY_LABELS.items():
        if key != "kv_cache_bytes_full" and first.get(key) is not None:
            bars[label] = float(first[key])
    return bars


def plot_memory(
    stats: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    *,
    log_x: bool | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Horizontal bars of memory: KV cache full vs under budgets, the capture, the process and CUDA.

    Parameters
    ----------
    stats : dict or sequence of dict
        One or more dicts from :meth:`SinkVis.get_memory_stats` (e.g. one per budget, from
        ``get_memory_stats(budget=B)``; a ``budget`` key, when present, labels the bar), or a plain
        mapping of label to bytes.
    log_x : bool, optional
        Logarithmic x axis; by default on when the bars span more than a factor of 100.
    title : str, optional
        Axes title.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new figure otherwise.

    Returns
    -------
    matplotlib.figure.Figure
        The figure; each bar is annotated with its size.

    Raises
    ------
    ValueError
        If ``stats`` is empty.

    Examples
    --------
    >>> plot_memory([dict(sv.get_memory_stats(budget=b), budget=b) for b in (64, 256)])
    """
    bars = _memory_bars(stats)
    labels, values = list(bars), [max(v, 0.0) for v in bars.values()]
    fig, ax = _new_axes(ax, (7.0, 0.38 * len(labels) + 1.4))
    colours = ["#1f4e9c" if lab.startswith("KV cache") else "#8c8c8c" for lab in labels]
    y = np.arange(len(labels))
    ax.barh(y, values, color=colours)
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.invert_yaxis()
    positive = [v for v in values if v > 0]
    if log_x is None:
        log_x = len(positive) > 1 and max(positive) / min(positive) > 100
    if log_x and positive:
        ax.set_xscale("log")
        ax.set_xlim(min(positive) / 2, max(positive) * 8)
    else:
        ax.set_xlim(0, max(values + [1.0]) * 1.25)
    for yi, v in zip(y, values, strict=True):
        if v > 0:
            ax.annotate(format_bytes(v), (v, yi), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)
    ax.set_xlabel("bytes")
    ax.set_title(title or "Memory")
    ax.grid(axis="x", alpha=0.3)
    return fig
