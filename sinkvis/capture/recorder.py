"""The recorder: receives each attention layer's queries/keys or weights and fills a :class:`Capture`."""

from __future__ import annotations

import numpy as np
import torch

from .probs import ChunkMask, StatsAccumulator, chunk_mask, chunk_scores, zero_empty_rows
from .store import Capture, CaptureTooLargeError, LayerStats

_DTYPES = {"float32": np.float32, "float16": np.float16}


class Recorder:
    """Turns per-layer attention calls into a :class:`Capture` (one per forward pass; the last one is kept)."""

    def __init__(
        self,
        *,
        mode: str,
        layers: list[int] | None,
        heads: list[int] | None,
        dtype: str,
        max_capture_bytes: int,
        query_chunk: int,
        batch_index: int,
        num_layers: int,
    ) -> None:
        self.mode = mode
        self.layers = None if layers is None else set(layers)
        self.heads = heads
        self.np_dtype = _DTYPES[dtype]
        self.max_capture_bytes = max_capture_bytes
        self.query_chunk = query_chunk
        self.batch_index = batch_index
        self.num_layers = num_layers
        self.current: Capture | None = None
        self.last: Capture | None = None
        self._masks: dict[tuple, tuple] = {}
        self.paused = False

    # -- passes -----------------------------------------------------------------------------------------------
    def begin_pass(self, input_ids: torch.Tensor | None) -> None:
        if self.paused:
            return
        ids = None
        if input_ids is not None and input_ids.dim() >= 1:
            row = input_ids[self.batch_index] if input_ids.dim() == 2 else input_ids
            ids = row.detach().cpu().numpy().astype(np.int64)
        self.current = Capture(mode=self.mode, input_ids=ids, heads=self.heads)
        self._masks = {}

    def end_pass(self) -> None:
        if self.paused:
            return
        cap = self.current
        if cap is not None and (cap.layers or cap.stats):
            cap.complete = True
            self.last = cap
        self.current = None
        self._masks = {}

    def wants(self, layer: int) -> bool:
        return not self.paused and (self.layers is None or layer in self.layers)

    def _capture_for(self, layer: int) -> Capture:
        cap = self.current
        if cap is None or layer in cap.layers or layer in cap.stats:
            # a pass that the model-level hook did not announce (or a second pass): start a fresh capture
            self.end_pass()
            self.begin_pass(None)
            cap = self.current
        assert cap is not None
        return cap

    def _heads(self, num_heads: int) -> list[int]:
        if self.heads is None:
            return list(range(num_heads))
        bad = [h for h in self.heads if not -num_heads <= h < num_heads]
        if bad:
            raise ValueError(
                f"heads {bad} out of range: the model has {num_heads} query heads "
                f"(valid: {-num_heads}..{num_heads - 1})"
            )
        return sorted({h % num_heads for h in self.heads})

    def _check_size(self, num_heads: int, seq_len: int, key_len: int) -> None:
        n_layers = len(self.layers) if self.layers is not None else self.num_layers
        need = n_layers * num_heads * seq_len * key_len * np.dtype(self.np_dtype).itemsize
        if need > self.max_capture_bytes:
            raise CaptureTooLargeError(
                f"A full-matrix capture of {n_layers} layers x {num_heads} heads x {seq_len} x {key_len} tokens "
                f"needs {need / 2**30:.2f} GiB, over the limit of {self.max_capture_bytes / 2**30:.2f} GiB. "
                "Use SinkVis(..., mode='stats') for linear-memory statistics, capture fewer layers/heads "
                "(layers=[...], heads=[...]), dtype='float16', or raise max_capture_bytes."
            )

    def _start_layer(self, cap: Capture, layer: int, hq: int, hkv: int, t: int, s: int, d: int | None) -> None:
        if cap.num_heads is None:
            cap.num_heads, cap.num_kv_heads, cap.head_dim = hq, hkv, d
            cap.seq_len, cap.key_len = t, s
            if self.heads is not None:
                cap.heads = self._heads(hq)
            if self.mode == "full":
                self._check_size(len(self._heads(hq)), t, s)

    # -- recording --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def record_qk(
        self,
        layer: int,
        query: torch.Tensor,
        key: torch.Tensor,
        attention_mask: torch.Tensor | None,
        *,
        scaling: float,
        is_causal: bool = True,
        softcap: float | None = None,
    ) -> torch.Tensor | None:
        """Compute and record probabilities from ``query [B,Hq,T,D]`` and ``key [B,Hkv,S,D]``.

        Returns the ``[1, H, T, S]`` probabilities (a view of the stored matrix) in full mode, else None.
        """
        if not self.wants(layer):
            return None
        cap = self._capture_for(layer)
        b = self.batch_index
        _, hq, t, d = query.shape
        hkv, s = key.shape[1], key.shape[2]
        self._start_layer(cap, layer, hq, hkv, t, s, d)
        heads = self._heads(hq)
        q = query[b].detach()
        k = key[b].detach()
        if self.heads is not None:  # pick the KV head of each chosen query head
            group = hq // hkv
            q = q[heads]
            k = k[[h // group for h in heads]]
        full = self._full_writer(cap, layer, len(heads), t, s)
        acc = None if full is not None else StatsAccumulator(len(heads), s)
        for q0 in range(0, t, self.query_chunk):
            q1 = min(t, q0 + self.query_chunk)
            mask = self._chunk_mask(attention_mask, q0, q1, t, s, is_causal, q.device, heads)
            scores = chunk_scores(q, k, q0, q1, scaling=scaling, mask=mask, softcap=softcap)
            if full is not None:
                full(zero_empty_rows(torch.softmax(scores, dim=-1), mask).cpu(), q0, s)
            else:
                acc.add_scores(scores.cpu(), q0, s - t, mask)
        if acc is not None:
            cap.stats[layer] = LayerStats.from_accumulator(acc)
        return self._finish_layer(cap, layer)

    @torch.no_grad()
    def record_weights(
        self, layer: int, weights: torch.Tensor, *, num_kv_heads: int | None = None, head_dim: int | None = None
    ) -> None:
        """Record attention weights ``[B, H, T, S]`` (or ``[H, T, S]``) that a module returned."""
        if not self.wants(layer):
            return
        if weights.dim() == 4:
            weights = weights[self.batch_index]
        elif weights.dim() == 2:
            weights = weights[None]
        if weights.dim() != 3:
            raise ValueError(f"attention weights must be [B, H, T, S] or [H, T, S], got {tuple(weights.shape)}")
        cap = self._capture_for(layer)
        h, t, s = weights.shape
        self._start_layer(cap, layer, h, num_kv_heads or h, t, s, head_dim)
        heads = self._heads(h)
        w = weights.detach()
        if self.heads is not None:
            w = w[heads]
        full = self._full_writer(cap, layer, len(heads), t, s)
        acc = None if full is not None else StatsAccumulator(len(heads), s)
        for q0 in range(0, t, self.query_chunk):
            chunk = torch.nan_to_num(w[:, q0 : q0 + self.query_chunk].float().cpu(), nan=0.0)
            if full is not None:
                full(chunk, q0, s)
            else:
                acc.add_probs(chunk, q0, s - t)
        if acc is not None:
            cap.stats[layer] = LayerStats.from_accumulator(acc)

    def _chunk_mask(self, attention_mask, q0, q1, t, s, is_causal, device, heads) -> ChunkMask:
        """The chunk's mask, computed once per pass: every layer gets the same mask tensor from the model."""
        key = (id(attention_mask), q0, q1, t, s, bool(is_causal), str(device))
        hit = self._masks.get(key)
        if hit is not None and hit[0] is attention_mask:
            return hit[1]
        mask = chunk_mask(attention_mask, self.batch_index, q0, q1, t, s, is_causal=is_causal, device=device)
        if self.heads is not None:
            mask = mask.select_heads(heads)
        self._masks[key] = (attention_mask, mask)  # holding the tensor keeps its id from being reused
        return mask

    def _full_writer(self, cap: Capture, layer: int, h: int, t: int, s: int):
        """In full mode, allocate the layer's ``[H, T, S]`` matrix and return a chunk writer (else None)."""
        if self.mode != "full":
            return None
        out = np.empty((h, t, s), dtype=self.np_dtype)
        cap.layers[layer] = out
        view = torch.from_numpy(out)

        def write(probs: torch.Tensor, q0: int, key_len: int) -> None:
            rows = view[:, q0 : q0 + probs.shape[1]]
            cols = probs.shape[-1]
            rows[..., :cols] = probs
            if cols < key_len:  # keys after the chunk's last query (causal): no attention
                rows[..., cols:] = 0

        return write

    def _finish_layer(self, cap: Capture, layer: int) -> torch.Tensor | None:
        if self.mode == "full":
            return torch.from_numpy(cap.layers[layer])[None]
        return None
