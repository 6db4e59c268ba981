"""The literal reference: decode token by token with a real evicting ``DynamicCache``.

This is slow (one forward pass per token) and exists to prove :func:`sinkvis.evaluation.evaluate` right, and
for users who want to see eviction done the obvious way. Tokens enter the cache one at a time (SPEC §6): at
step t token t is inserted; if the cache then holds more than ``budget`` entries the policy evicts one (never
token t); then query t attends over what is in the cache. Here the eviction for step t is done at the end of
step t - 1 (the decision only uses queries before t), so the cache holds ``budget - 1`` entries when token t
arrives. Every layer and KV head keeps its own cache; positions are the original ones (``position_ids`` are
passed explicitly), like :func:`~sinkvis.evaluation.evaluate`.

Policies implemented step by step here, independently of :mod:`sinkvis.simulation`: ``full``,
``sliding_window``, ``streaming_llm``, ``h2o``, ``tova`` and ``lru``. Attention-driven ones read each step's
attention weights (renormalised over the cache, the query heads of a KV-head group summed) from an eager
forward with ``output_attentions=True``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ._inputs import as_input_ids, check_causal_lm, model_shape

REFERENCE_POLICIES = ("full", "sliding_window", "streaming_llm", "h2o", "tova", "lru")
_ATTENTION_POLICIES = ("h2o", "tova", "lru")


@dataclass
class ReferenceResult:
    """Outcome of :func:`decode_with_evicting_cache`.

    Attributes
    ----------
    perplexity
        ``exp(mean NLL)`` of tokens 1..T-1.
    nll
        float64 ``[T - 1]``: negative log-likelihood of each next token.
    logits
        float32 ``[T, V]``: the logits of every step.
    keep_mask
        bool ``[L, Hkv, T]``: the cache of each layer and KV head after the last step.
    """

    perplexity: float
    nll: np.ndarray
    logits: torch.Tensor
    keep_mask: np.ndarray


class _LayerCache:
    """Bookkeeping beside one layer's KV cache: original positions and the policy's per-entry state."""

    def __init__(self, num_kv: int) -> None:
        self.positions = torch.empty(num_kv, 0, dtype=torch.long)
        self.score = torch.empty(num_kv, 0, dtype=torch.float64)  # h2o: accumulated; tova: last query's
        self.last_use = torch.empty(num_kv, 0, dtype=torch.long)  # lru

    def insert(self, t: int) -> None:
        n = self.positions.shape[0]
        self.positions = torch.cat([self.positions, torch.full((n, 1), t, dtype=torch.long)], 1)
        self.score = torch.cat([self.score, torch.zeros(n, 1, dtype=torch.float64)], 1)
        self.last_use = torch.cat([self.last_use, torch.full((n, 1), t, dtype=torch.long)], 1)

    def observe(self, policy: str, weights: torch.Tensor, t: int, threshold: float | None) -> None:
        """Update the per-entry state from query t's weights ``[Hkv, n]`` (group-summed, renormalised)."""
        if policy == "h2o":
            self.score += weights
        elif policy == "tova":
            self.score = weights.clone()
        elif policy == "lru":
            group_size = float(weights.sum(-1).max())  # each query head's weights sum to 1
            tau = (1.0 / weights.shape[-1]) if threshold is None else threshold
            used = weights >= tau * group_size * (1 - 1e-9)
            self.last_use = torch.where(used, torch.full_like(self.last_use, t), self.last_use)

    def victims(self, policy: str, next_t: int, sink_count: int, recent_window: int) -> torch.Tensor:
        """Index (per KV head) of the entry to evict before token ``next_t`` arrives."""
        pos = self.positions.double()
        big = torch.tensor(float("inf"), dtype=torch.float64)
        if policy == "sliding_window":
            key = pos
        elif policy == "streaming_llm":
            key = torch.where(self.positions >= sink_count, pos, big)
        elif policy in ("h2o", "tova"):
            candidate = self.positions <= next_t - recent_window if policy == "h2o" else self.positions >= 0
            key = torch.where(candidate, self.score, big)
        else:  # lru
            key = self.last_use.double()
        # lowest key first, ties to the older position: lexicographic via a stable two-pass sort
        order = torch.argsort(pos, dim=-1, stable=True)
        key_sorted = torch.gather(key, 1, order)
        first = torch.argsort(key_sorted, dim=-1, stable=True)[:, 0]
        return order.gather(1, first[:, None])[:, 0]

    def drop(self, victims: torch.Tensor) -> torch.Tensor:
        """Remove one entry per KV head; return the kept indices ``[Hkv, n - 1]``."""
        n = self.positions.shape[1]
        keep = torch.ones_like(self.positions, dtype=torch.bool)
        keep[torch.arange(keep.shape[0]), victims] = False
        idx = torch.arange(n).expand_as(keep)[keep].reshape(keep.shape[0], n - 1)
        self.positions = self.positions.gather(1, idx)
        self.score = self.score.gather(1, idx)
        self.last_use = self.last_use.gather(1, idx)
        return idx


def _gather_cache(layer: Any, idx: torch.Tensor) -> None:
    """Keep entries ``idx`` ``[Hkv, n']`` of one ``DynamicLayer`` (keys/values ``[1, Hkv, n, D]``)."""
    idx = idx.to(layer.keys.device)
    layer.keys = layer.keys.gather(2, idx[None, :, :, None].expand(1, -1, -1, layer.keys.shape[-1]))
    layer.values = layer.values.gather(2, idx[None, :, :, None].expand(1, -1, -1, layer.values.shape[-1]))


def decode_with_evicting_cache(
    model: Any,
    input_ids: Any,
    policy: str,
    budget: int,
    *,
    sink_count: int = 4,
    recent_window: int | None = None,
    threshold: float | None = None,
    num_threads: int | None = 1,
) -> ReferenceResult:
    """Decode ``input_ids`` one token at a time with a real evicting ``DynamicCache``; score every next token.

    Parameters
    ----------
    model
        A transformers causal LM (eager or sdpa; attention-driven policies switch it to eager for the call and
        restore it afterwards).
    input_ids
        Token ids ``[T]`` or ``[1, T]``.
    policy
        One of ``full``, ``sliding_window``, ``streaming_llm``, ``h2o``, ``tova``, ``lru``.
    budget
        Most KV entries each layer and KV head keeps.
    sink_count
        First tokens ``streaming_llm`` never evicts.
    recent_window
        ``h2o``'s protected recent window (default ``budget // 2``, at least 1, below ``budget``).
    threshold
        ``lru``'s use threshold on a renormalised weight (default: uniform, 1 / tokens in the cache).
    num_threads
        torch intra-op threads during the decode on the CPU (restored afterwards). One-token steps gain
        nothing from more threads and lose much on a busy machine; None leaves torch's setting alone.

    Returns
    -------
    ReferenceResult
    """
    from transformers import DynamicCache

    if policy not in REFERENCE_POLICIES:
        raise ValueError(f"unknown policy {policy!r} for the reference decode; valid: {', '.join(REFERENCE_POLICIES)}")
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or budget < 1:
        raise ValueError(f"budget must be an int >= 1; got {budget!r}")
    if policy == "streaming_llm" and sink_count >= budget:
        raise ValueError(f"sink_count ({sink_count}) must be < budget ({budget}): the current token needs a slot")
    check_causal_lm(model)
    ids = as_input_ids(input_ids)
    seq_len = ids.shape[1]
    shape = model_shape(model)
    window = min(max(budget // 2, 1), budget - 1) if recent_window is None else int(recent_window)
    group = shape.num_heads // shape.num_kv_heads
    needs_attention = policy in _ATTENTION_POLICIES
    device = next(model.parameters()).device
    ids = ids.to(device)
    original = model.config._attn_implementation
    was_training = model.training
    caches = [_LayerCache(shape.num_kv_heads) for _ in range(shape.num_layers)]
    logits = torch.empty(seq_len, shape.vocab_size or 0, dtype=torch.float32)
    threads = torch.get_num_threads()
    try:
        if num_threads is not None and device.type == "cpu":
            torch.set_num_threads(int(num_threads))
        model.eval()
        if needs_attention and original != "eager":
            model.set_attn_implementation("eager")
        cache = DynamicCache(config=model.config)
        with torch.no_grad():
            for t in range(seq_len):
                out = model(
                    input_ids=ids[:, t : t + 1],
                    position_ids=torch.tensor([[t]], device=device),
                    cache=cache,
                    use_cache=True,
                    output_attentions=needs_attention,
                )
                step_logits = out.logits[0, -1].float().cpu()
                if logits.shape[1] != step_logits.shape[0]:
                    logits = torch.empty(seq_len, step_logits.shape[0], dtype=torch.float32)
                logits[t] = step_logits
                for layer_idx, book in enumerate(caches):
                    book.insert(t)
                    if needs_attention:
                        weights = out.attentions[layer_idx][0, :, -1].double().cpu()  # [Hq, n]
                        book.observe(policy, weights.reshape(-1, group, weights.shape[-1]).sum(1), t, threshold)
                if policy == "full" or t + 1 >= seq_len or caches[0].positions.shape[1] < budget:
                    continue
                for layer_idx, book in enumerate(caches):
                    idx = book.drop(book.victims(policy, t + 1, sink_count, window))
                    _gather_cache(cache.layers[layer_idx], idx)
    finally:
        torch.set_num_threads(threads)
        if model.config._attn_implementation != original:
            model.set_attn_implementation(original)
        model.train(was_training)
    nll = torch.nn.functional.cross_entropy(logits[:-1], ids[0, 1:].cpu(), reduction="none").double().numpy()
    keep = np.zeros((shape.num_layers, shape.num_kv_heads, seq_len), dtype=bool)
    for layer_idx, book in enumerate(caches):
        np.put_along_axis(keep[layer_idx], book.positions.numpy(), True, axis=-1)
    return ReferenceResult(perplexity=math.exp(float(nll.mean())), nll=nll, logits=logits, keep_mask=keep)
