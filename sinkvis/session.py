"""``SinkVis``: the context manager around a model, and the facade over capture, analysis, simulation,
evaluation, memory and the dashboard."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .capture import AttentionCapture, Capture, available_memory_bytes, display_tokens
from .capture.modules import WeightsFn
from .memory import memory_stats

if TYPE_CHECKING:
    from .analysis import AttentionFrame
    from .simulation import SimulationResult

MODES = ("full", "stats")
DTYPES = ("float32", "float16")


class NoCaptureError(RuntimeError):
    """Data was asked for before any forward pass was captured."""


def _int_list(name: str, value: Any) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = [value]
    try:
        out = [int(v) for v in value if not isinstance(v, bool)]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be None, an int or a list of ints, got {value!r}") from None
    if len(out) != len(list(value)) or not out:
        raise TypeError(f"{name} must be None, an int or a non-empty list of ints, got {value!r}")
    return out


class SinkVis:
    """Capture the attention of a PyTorch / HuggingFace model and measure sinks and eviction policies.

    Use it as a context manager around one forward pass::

        with SinkVis(model, tokenizer) as sv:
            model(**inputs)
        sv.get_attention_data(layer=-1, head=0)

    The model computes exactly what it computes without SinkVis (bit for bit); on exit every hook and
    registration is removed and the attention implementation restored, also when the block raises. The
    captured data stays usable after the block. Each forward pass inside the block replaces the capture of
    the previous one.

    Parameters
    ----------
    model
        A transformers model (eager, sdpa or any implementation that goes through ``AttentionInterface``), a
        model containing ``torch.nn.MultiheadAttention`` modules, or any module together with
        ``attention_modules``.
    tokenizer
        Used to decode tokens for display (optional).
    mode
        ``"full"`` keeps the full ``[H, T, T]`` matrices of the chosen layers on the CPU; ``"stats"`` keeps
        per-head, per-key statistics (attention received: sum, count of queries, max; locality; entropy),
        computed in query chunks, whose memory grows linearly with the sequence length.
    layers, heads
        Model layer indices and query-head indices to capture (negative indices count from the end);
        ``None`` captures all.
    dtype
        ``"float32"`` (default) or ``"float16"`` for stored matrices (full mode).
    max_capture_bytes
        A full-matrix capture larger than this is refused with an error naming the stats mode. Default: half
        of the memory available when the block starts.
    query_chunk
        Query rows computed at once when probabilities are recomputed (bounds peak memory).
    batch_index
        Which sequence of a batch to capture.
    attention_modules, weights_from
        The generic hook: capture these modules (a list — its order gives the layer index — or
        ``{layer: module}``) with ``weights_from(module, args, kwargs, output)`` returning their weights. See
        :mod:`sinkvis.capture.modules`.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Any = None,
        *,
        mode: str = "full",
        layers: int | Sequence[int] | None = None,
        heads: int | Sequence[int] | None = None,
        dtype: str = "float32",
        max_capture_bytes: int | None = None,
        query_chunk: int = 128,
        batch_index: int = 0,
        attention_modules: Sequence[torch.nn.Module] | dict[int, torch.nn.Module] | None = None,
        weights_from: WeightsFn | None = None,
    ) -> None:
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"SinkVis needs a torch.nn.Module as model, got {type(model).__name__}")
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
        for name, v, lo in (("query_chunk", query_chunk, 1), ("batch_index", batch_index, 0)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        bad_limit = not isinstance(max_capture_bytes, (int, float)) or isinstance(max_capture_bytes, bool)
        if max_capture_bytes is not None and (bad_limit or max_capture_bytes <= 0):
            raise ValueError(f"max_capture_bytes must be a positive number of bytes, got {max_capture_bytes!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.mode = mode
        self._layers_arg = _int_list("layers", layers)
        self._heads_arg = _int_list("heads", heads)
        self._options = dict(dtype=dtype, query_chunk=int(query_chunk), batch_index=int(batch_index))
        self._max_capture_bytes = max_capture_bytes
        self._attention_modules = attention_modules
        self._weights_from = weights_from
        self._capture_hooks: AttentionCapture | None = None
        self._recorder = None
        self._num_layers: int | None = None
        self._frame_cache: dict[tuple, Any] = {}

    # -- context manager ------------------------------------------------------------------------------------
    def __enter__(self) -> SinkVis:
        if self._capture_hooks is not None:
            raise RuntimeError("this SinkVis is already active; nested `with` on the same object is not allowed")
        probe = AttentionCapture(
            self.model,
            self._recorder_kwargs(None, None),
            attention_modules=self._attention_modules,
            weights_from=self._weights_from,
        )
        n = probe.num_layers
        layers = self._resolve_indices("layers", self._layers_arg, n, "layers")
        probe.recorder.layers = None if layers is None else set(layers)
        probe.recorder.heads = self._heads_arg  # validated against the head count at the first layer
        self._num_layers = n
        probe.install()
        self._capture_hooks = probe
        self._recorder = probe.recorder
        return self

    def __exit__(self, *exc: Any) -> bool:
        hooks, self._capture_hooks = self._capture_hooks, None
        if hooks is not None:
            hooks.remove()
            self._frame_cache.clear()
        return False

    def _recorder_kwargs(self, layers: list[int] | None, heads: list[int] | None) -> dict[str, Any]:
        limit = self._max_capture_bytes
        if limit is None:
            limit = available_memory_bytes() // 2
        return dict(
            mode=self.mode, layers=layers, heads=heads, max_capture_bytes=int(limit), **self._options
        )

    @staticmethod
    def _resolve_indices(name: str, values: list[int] | None, n: int, what: str) -> list[int] | None:
        if values is None:
            return None
        out = []
        for v in values:
            if not -n <= v < n:
                raise ValueError(f"{name} index {v} out of range: the model has {n} {what} (valid: {-n}..{n - 1})")
            out.append(v % n)
        return sorted(set(out))

    # -- captured data --------------------------------------------------------------------------------------
    @property
    def capture(self) -> Capture:
        """The last complete capture (raises :class:`NoCaptureError` before the first forward pass)."""
        cap = None if self._recorder is None else self._recorder.last
        if cap is None:
            raise NoCaptureError(
                "no forward pass captured yet: run the model inside `with SinkVis(model, tokenizer) as sv:`"
            )
        return cap

    @property
    def has_capture(self) -> bool:
        """Whether a forward pass has been captured."""
        return self._recorder is not None and self._recorder.last is not None

    @property
    def tokens(self) -> list[str]:
        """Display strings of the captured tokens (spaces, newlines and tabs made visible)."""
        cap = self.capture
        return display_tokens(cap.input_ids, self.tokenizer, cap.seq_len)

    @property
    def input_ids(self) -> np.ndarray:
        """Token ids of the captured sequence, ``int64 [T]``."""
        cap = self.capture
        if cap.input_ids is None:
            raise NoCaptureError("the captured forward pass got embeddings, not input_ids")
        return cap.input_ids

    @property
    def seq_len(self) -> int:
        """Number of query tokens ``T`` of the captured pass."""
        return self.capture.seq_len

    @property
    def num_layers(self) -> int:
        """Number of attention layers of the model (captured ones: :attr:`layers`)."""
        if self._num_layers is None:
            raise NoCaptureError("SinkVis has not been entered yet: use `with SinkVis(model) as sv:`")
        return self._num_layers

    @property
    def layers(self) -> list[int]:
        """Model layer indices that were captured."""
        return self.capture.layer_indices

    @property
    def num_heads(self) -> int:
        """Number of query heads per layer in the model."""
        return int(self.capture.num_heads)

    @property
    def num_kv_heads(self) -> int:
        """Number of key/value heads per layer (fewer than :attr:`num_heads` with GQA)."""
        return int(self.capture.num_kv_heads)

    @property
    def group_size(self) -> int:
        """Query heads per KV head (``num_heads // num_kv_heads``)."""
        return self.num_heads // self.num_kv_heads

    @property
    def head_dim(self) -> int | None:
        """Dimension of one head (None when the capture came from returned weights only)."""
        cap = self.capture
        if cap.head_dim is not None:
            return int(cap.head_dim)
        config = getattr(self.model, "config", None)
        if config is not None:
            hd = getattr(config, "head_dim", None)
            if hd:
                return int(hd)
            hidden = getattr(config, "hidden_size", None)
            if hidden:
                return int(hidden) // self.num_heads
        for m in self.model.modules():
            if isinstance(m, torch.nn.MultiheadAttention):
                return m.head_dim
        return None

    @property
    def captured_heads(self) -> list[int]:
        """Query-head indices captured in each layer."""
        cap = self.capture
        return list(cap.heads) if cap.heads is not None else list(range(self.num_heads))

    def layer_index(self, layer: int) -> int:
        """Resolve a layer argument to a captured model layer index (negative counts from the last captured).

        Parameters
        ----------
        layer : int
            A model layer index that was captured (one of :attr:`layers`), or a negative index into the
            captured layers (``-1`` is the last captured layer, ``-len(sv.layers)`` the first).

        Returns
        -------
        int
            The model layer index.

        Raises
        ------
        TypeError
            ``layer`` is not an int (bools are refused).
        ValueError
            A non-negative ``layer`` that was not captured, or a negative one beyond the number captured.
        NoCaptureError
            No forward pass has been captured yet.
        """
        layers = self.layers
        return layers[_captured_position("layer", layer, layers)]

    def head_position(self, head: int) -> int:
        """Position of a query head in the captured arrays (negative counts from the last captured head).

        Parameters
        ----------
        head : int
            A model query-head index that was captured (one of :attr:`captured_heads`), or a negative index
            into the captured heads (``-1`` is the last captured head).

        Returns
        -------
        int
            The index of that head along the head axis of the captured arrays.

        Raises
        ------
        TypeError
            ``head`` is not an int (bools are refused).
        ValueError
            A non-negative ``head`` that was not captured, or a negative one beyond the number captured.
        NoCaptureError
            No forward pass has been captured yet.
        """
        return _captured_position("head", head, self.captured_heads)

    def attention(self, layer: int = -1, head: int | None = None) -> np.ndarray:
        """Captured attention probabilities: ``[H, T, T]`` (or ``[T, T]`` for one head), float32 numpy.

        Full mode only; in stats mode use :meth:`attention_received` or :meth:`stats`.

        Parameters
        ----------
        layer : int, default -1
            Captured layer, resolved by :meth:`layer_index` (negative counts from the last captured layer).
        head : int, optional
            Query head, resolved by :meth:`head_position`; None (default) returns all captured heads.

        Returns
        -------
        numpy.ndarray
            float32 ``[H, T, T]`` (``H`` = captured heads) or ``[T, T]`` when ``head`` is given; rows are
            queries, columns keys.

        Raises
        ------
        ValueError
            The capture was made with ``mode="stats"``, or ``layer`` / ``head`` was not captured.
        TypeError
            ``layer`` or ``head`` is not an int.
        NoCaptureError
            No forward pass has been captured yet.
        """
        cap = self.capture
        if cap.mode != "full":
            raise ValueError(
                "attention matrices are not kept in mode='stats'; use sv.attention_received() / sv.stats(), "
                "or capture with SinkVis(..., mode='full')"
            )
        arr = cap.layers[self.layer_index(layer)]
        if head is not None:
            arr = arr[self.head_position(head)]
        return np.asarray(arr, dtype=np.float32)

    def attention_stack(self) -> np.ndarray:
        """All captured layers stacked: ``[L_captured, H, T, T]`` float32 (full mode)."""
        return np.stack([self.attention(layer) for layer in self.layers])

    def stats(self, layer: int = -1) -> dict[str, np.ndarray]:
        """Per-head, per-key statistics of a layer: ``sum`` and ``max`` ``[H, T]``, ``count`` ``[T]``.

        Available in both capture modes.

        Parameters
        ----------
        layer : int, default -1
            Captured layer, resolved by :meth:`layer_index` (negative counts from the last captured layer).

        Returns
        -------
        dict[str, numpy.ndarray]
            ``sum``: attention each key received, summed over queries; ``max``: the largest attention it
            received from one query (both per captured head, ``[H, T]``); ``count``: how many queries see
            each key (``[T]``).

        Raises
        ------
        TypeError, ValueError
            ``layer`` is not an int, or was not captured (see :meth:`layer_index`).
        NoCaptureError
            No forward pass has been captured yet.
        """
        st = self.capture.layer_stats(self.layer_index(layer))
        return {"sum": st.sum, "max": st.max, "count": st.count}

    def attention_received(self, layer: int = -1, head: int | None = None) -> np.ndarray:
        """Mean attention each key receives from the queries that see it: ``[H, T]`` or ``[T]`` (both modes).

        Parameters
        ----------
        layer : int, default -1
            Captured layer, resolved by :meth:`layer_index` (negative counts from the last captured layer).
        head : int, optional
            Query head, resolved by :meth:`head_position`; None (default) returns all captured heads.

        Returns
        -------
        numpy.ndarray
            float32 ``[H, T]`` (``H`` = captured heads), or ``[T]`` when ``head`` is given: ``sum / count``
            of :meth:`stats` (keys seen by no query get 0).

        Raises
        ------
        TypeError, ValueError
            ``layer`` or ``head`` is not an int, or was not captured.
        NoCaptureError
            No forward pass has been captured yet.
        """
        st = self.capture.layer_stats(self.layer_index(layer))
        mean = (st.sum / np.maximum(st.count, 1)[None, :]).astype(np.float32)
        return mean if head is None else mean[self.head_position(head)]

    # -- seed API -------------------------------------------------------------------------------------------
    def get_attention_data(self, layer: int = -1, head: int = 0) -> list[list[float]]:
        """Attention of one head as a ``T x T`` list of lists (negative layer indices allowed).

        Full mode only: this is ``attention(layer, head).tolist()``.

        Parameters
        ----------
        layer : int, default -1
            Captured layer, resolved by :meth:`layer_index` (negative counts from the last captured layer).
        head : int, default 0
            Query head, resolved by :meth:`head_position` (negative counts from the last captured head).

        Returns
        -------
        list[list[float]]
            Row ``q`` holds the attention query ``q`` pays to each key (zeros above the diagonal for a causal
            model).

        Raises
        ------
        ValueError
            The capture was made with ``mode="stats"``, or ``layer`` / ``head`` was not captured.
        TypeError
            ``layer`` or ``head`` is not an int.
        NoCaptureError
            No forward pass has been captured yet.
        """
        return self.attention(layer, head).tolist()

    def simulate(
        self,
        policy: str,
        budget: int,
        sink_count: int = 4,
        *,
        layer: int | None = None,
        head: int | None = None,
        per_head: bool = False,
        kv_group: bool = True,
        return_occupancy: bool = False,
        **params: Any,
    ) -> SimulationResult:
        """Simulate an eviction policy on the captured sequence (numpy level).

        Attention-driven policies (``h2o``, ``lru``, ``tova``, ``snapkv``) read the captured attention:
        with ``layer=None`` all captured layers and heads share one cache (their renormalised weights summed);
        with a ``layer``, that layer's heads share one cache, or each KV head has its own with
        ``per_head=True`` (masks ``[H_kv, T]``); with a ``head``, the cache that head reads from — its KV
        group's, shared by the group's query heads (GQA) — or that query head alone with ``kv_group=False``.
        Policies that ignore
        attention give the same mask everywhere. Simulating from a full-cache capture is an approximation for
        a multi-layer model (lower layers' evictions change upper layers' attention): :meth:`evaluate`
        measures the real thing.

        Parameters
        ----------
        policy : str
            A registered policy name (:func:`sinkvis.simulation.list_policies`).
        budget : int
            Most KV entries kept (>= 1).
        sink_count : int, default 4
            Sinks kept by sink-using policies (``0 <= sink_count < budget``); other policies ignore it.
        layer : int, optional
            Captured layer whose attention drives the policy (see :meth:`layer_index`); None (default) uses all
            captured layers, or the last captured layer when ``head`` is given. Ignored by policies that do not
            use attention.
        head : int, optional
            Simulate the cache this query head reads from (see :meth:`head_position`); None (default) shares
            one cache between the heads. Ignored by policies that do not use attention.
        per_head : bool, default False
            With a ``layer`` and no ``head``: one cache per KV head (masks ``[H_kv, T]``); when not every query
            head was captured, one cache per captured query head instead.
        kv_group : bool, default True
            With a ``head``: share the cache with the other query heads of its KV group when the model uses GQA
            and the whole group was captured; False simulates that query head alone.
        return_occupancy : bool, default False
            Also compute the occupancy (which keys are cached at each query step).
        **params
            Policy parameters passed to :func:`sinkvis.simulation.run_policy`, e.g. ``recent_window`` (h2o),
            ``threshold`` (lru), ``window``/``kernel`` (snapkv), ``seed`` (random).

        Returns
        -------
        SimulationResult
            ``keep_mask`` (``[T]`` when one cache is shared, ``[groups, T]`` otherwise), ``occupancy`` (or None),
            ``policy``, ``budget``, ``sink_count``, ``params``.

        Raises
        ------
        ValueError
            Unknown policy, invalid budget / sink count / policy parameters, an attention-driven policy on a
            ``mode="stats"`` capture, or a ``layer`` / ``head`` that was not captured.
        TypeError
            ``budget``, ``sink_count``, ``layer`` or ``head`` is not an integer (bools are refused).
        NoCaptureError
            No forward pass has been captured yet.
        """
        from .simulation import get_policy, run_policy

        spec = get_policy(policy)
        seq_len = self.seq_len
        attention = None
        group_size = 1
        if spec.uses_attention:
            if self.capture.mode != "full":
                raise ValueError(
                    f"policy {policy!r} needs attention matrices, which mode='stats' does not keep; capture with "
                    "mode='full', or use sv.evaluate() which runs the policy inside the real model"
                )
            if head is not None:
                layer = -1 if layer is None else layer
                group = self._kv_group_of(head) if kv_group else None
                if group is None:
                    attention = self.attention(layer, head)
                else:
                    attention = self.attention(layer)[[self.head_position(h) for h in group]]
                    group_size = len(group)
            elif layer is not None:
                attention = self.attention(layer)
                group_size = self.group_size if per_head else attention.shape[0]
                if per_head and len(self.captured_heads) != self.num_heads:
                    group_size = 1
            else:
                attention = self.attention_stack().reshape(-1, seq_len, seq_len)
                group_size = attention.shape[0]
        result = run_policy(
            policy,
            budget=budget,
            seq_len=seq_len,
            attention=attention,
            sink_count=sink_count,
            group_size=group_size,
            return_occupancy=return_occupancy,
            **params,
        )
        if attention is not None and attention.ndim == 3 and group_size == attention.shape[0]:
            # all heads shared one cache: drop the group axis of length 1
            occupancy = None if result.occupancy is None else result.occupancy[0]
            result = dataclasses.replace(result, keep_mask=result.keep_mask[0], occupancy=occupancy)
        return result

    def _kv_group_of(self, head: int) -> list[int] | None:
        """Query heads sharing ``head``'s KV head, when all of them were captured and there is more than one."""
        g = self.group_size
        if g <= 1:
            return None
        h = self.captured_heads[self.head_position(head)]
        group = list(range(h - h % g, h - h % g + g))
        return group if all(x in self.captured_heads for x in group) else None

    def simulate_policy(self, policy: str, budget: int, sink_count: int = 4, **params: Any) -> list[bool]:
        """Keep mask (``list[bool]``, length T) of an eviction policy under a token budget.

        See :meth:`simulate` for the options (``layer``, ``head``, ``per_head``) and the numpy result.

        Parameters
        ----------
        policy : str
            A registered policy name (:func:`sinkvis.simulation.list_policies`).
        budget : int
            Most KV entries kept (>= 1).
        sink_count : int, default 4
            Sinks kept by sink-using policies (``0 <= sink_count < budget``); other policies ignore it.
        **params
            Keyword options of :meth:`simulate` (``layer``, ``head``, ``kv_group``, ...) and policy parameters.

        Returns
        -------
        list[bool]
            ``True`` for each of the T positions still cached after the last token.

        Raises
        ------
        ValueError
            As :meth:`simulate`, and when the options give more than one mask (e.g. ``per_head=True``).
        TypeError
            As :meth:`simulate`.
        NoCaptureError
            No forward pass has been captured yet.
        """
        result = self.simulate(policy, budget, sink_count, **params)
        mask = np.asarray(result.keep_mask)
        if mask.ndim != 1:
            raise ValueError("simulate_policy returns one mask; use sv.simulate(..., per_head=True) for per-head masks")
        return [bool(v) for v in mask]

    def get_memory_stats(self, budget: int | None = None) -> dict[str, Any]:
        """KV-cache bytes (full, and under ``budget``), capture bytes, process and CUDA memory.

        Keys: ``kv_cache_bytes_full``, ``capture_bytes``, ``process_rss_bytes``, ``process_peak_rss_bytes``,
        ``device``; with CUDA ``cuda_allocated_bytes``, ``cuda_reserved_bytes``, ``cuda_peak_bytes``; with a
        budget ``kv_cache_bytes_budget`` and ``kv_cache_saving_ratio`` (share of the full cache saved).

        Parameters
        ----------
        budget : int, optional
            KV entries kept (>= 1; more than T counts as T); None (default) leaves out the budget figures.

        Returns
        -------
        dict[str, Any]
            The keys above, plus ``dtype``, ``seq_len``, ``num_layers``, ``num_kv_heads``, ``head_dim``,
            ``kv_cache_bytes_per_token`` and, with a budget, ``budget``.

        Raises
        ------
        ValueError
            ``budget`` is not an integer >= 1.
        NoCaptureError
            No forward pass has been captured yet, or the session has not been entered.
        """
        cap = self.capture
        return memory_stats(
            model=self.model,
            num_layers=self.num_layers,
            num_kv_heads=self.num_kv_heads,
            head_dim=self.head_dim or 0,
            seq_len=cap.key_len,
            capture_bytes=cap.nbytes,
            budget=budget,
        )

    def analyze_attention(self, tokens: list[str] | None = None, **options: Any) -> AttentionFrame:
        """Find sinks, heavy hitters and head roles; returns an :class:`~sinkvis.analysis.AttentionFrame`.

        ``tokens`` overrides the display strings (must have one per position). Options (``eps``,
        ``min_queries``, ``min_sink_rate``, ``heavy_hitter_k``, ...) are those of :func:`sinkvis.analysis.analyze`.

        The result is cached: the same arguments on the same capture return the same frame.

        Parameters
        ----------
        tokens : list of str, optional
            Display strings, one per captured position (a list or tuple; entries are converted with ``str``);
            None (default) uses :attr:`tokens`.
        **options
            Keyword arguments of :func:`sinkvis.analysis.analyze`.

        Returns
        -------
        AttentionFrame
            Per-token, per-head results of the analysis.

        Raises
        ------
        TypeError
            ``tokens`` is not a list or tuple (a plain string is refused).
        ValueError
            ``tokens`` does not have one entry per captured position.
        NoCaptureError
            No forward pass has been captured yet.
        """
        from .analysis import analyze

        cap = self.capture
        if tokens is not None:
            if isinstance(tokens, str) or not isinstance(tokens, (list, tuple)):
                raise TypeError(f"tokens must be a list of strings, got {type(tokens).__name__}")
            if len(tokens) != cap.seq_len:
                raise ValueError(f"tokens has {len(tokens)} entries but {cap.seq_len} tokens were captured")
            tokens = [str(t) for t in tokens]
        key = (tuple(tokens) if tokens else None, tuple(sorted(options.items())), id(cap))
        if key not in self._frame_cache:
            self._frame_cache = {key: analyze(cap, tokens if tokens is not None else self.tokens, **options)}
        return self._frame_cache[key]

    def evaluate(
        self, policies: Sequence[str] | None = None, budgets: int | Sequence[int] | None = None,
        sink_count: int = 4, **options: Any,
    ) -> Any:
        """What each policy costs the real model: perplexity, KL, top-1 agreement, attention recall, KV bytes.

        Delegates to :func:`sinkvis.evaluation.evaluate`; returns an ``EvaluationReport``. Inside the ``with``
        block the evaluation passes do not replace the capture.

        Parameters
        ----------
        policies : sequence of str, optional
            Policy names (:func:`sinkvis.simulation.list_policies`); None (default) means every registered policy.
        budgets : int or sequence of int, optional
            KV entries kept (>= 1); None (default) means T/8, T/4 and T/2.
        sink_count : int, default 4
            Sink tokens kept by the policies that keep sinks.
        **options
            Other keyword arguments of :func:`sinkvis.evaluation.evaluate` (``policy_params``, ``progress``,
            ``query_chunk``, ``max_memory_bytes``).

        Returns
        -------
        EvaluationReport
            One row per (policy, budget), plus ``full`` once; see :func:`sinkvis.evaluation.evaluate`.

        Raises
        ------
        ValueError, TypeError, RuntimeError, EvaluationMemoryError
            As :func:`sinkvis.evaluation.evaluate` (unknown policy, bad budget, no capture, too little memory).
        """
        from .evaluation import evaluate

        recorder = self._recorder
        paused = recorder is not None and not recorder.paused
        if paused:  # inside the `with` block: evaluation passes must not replace the capture
            recorder.paused = True
        try:
            return evaluate(self, policies=policies, budgets=budgets, sink_count=sink_count, **options)
        finally:
            if paused:
                recorder.paused = False

    def show(self, **options: Any) -> Any:
        """The interactive dashboard: layer/head selector, attention heatmap, policy comparison, memory panel.

        Options are those of :class:`sinkvis_widgets.Dashboard` (``layer``, ``head``, ``budget``, ``sink_count``,
        ``policies``, ``highlight``, ``scale``, ``max_cells``, ``sync_throttle_ms``, ``report``). In marimo the
        same linked components come back in a marimo layout.
        """
        from sinkvis_widgets.dashboard import Dashboard, in_marimo

        dashboard = Dashboard(self, **options)
        return dashboard.for_marimo() if in_marimo() else dashboard

    def __repr__(self) -> str:
        if not self.has_capture:
            return f"SinkVis({type(self.model).__name__}, mode={self.mode!r}, no capture yet)"
        return (
            f"SinkVis({type(self.model).__name__}, mode={self.mode!r}, tokens={self.seq_len}, "
            f"layers={len(self.layers)}/{self.num_layers}, heads={self.num_heads} (kv {self.num_kv_heads}))"
        )


def _captured_position(name: str, value: Any, captured: list[int]) -> int:
    """Position of ``value`` in ``captured`` (model indices); negative values count from the end."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    n = len(captured)
    if value < 0:
        if -value > n:
            raise ValueError(
                f"{name} {value} out of range: {n} {name}s were captured (valid: {-n}..-1 or one of {_span(captured)})"
            )
        return n + int(value)
    if value not in captured:
        raise ValueError(f"{name} {value} was not captured: valid {name}s are {_span(captured)} (or -1..{-n})")
    return captured.index(int(value))


def _span(values: list[int]) -> str:
    if values and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}..{values[-1]}"
    return str(values)
