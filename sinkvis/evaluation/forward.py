"""The model's forward pass under an evicting KV cache, simulated in one pass.

A custom attention function is registered with transformers' ``AttentionInterface`` (and the same name with
``AttentionMaskInterface``) for the duration of one forward pass. Every attention layer calls it with its
queries ``[1, Hq, T, D]`` and keys/values ``[1, Hkv, T, D]`` (after RoPE, before any GQA repeat); the function
picks what to do by ``module.layer_idx``:

* mask-only policies (``full``, ``sliding_window``, ``streaming_llm``, ...) have one occupancy ``[T, T]``
  known before the pass;
* attention-driven policies (``h2o``, ``lru``, ``tova``, ...) are simulated *inside* the layer: the layer's
  full causal probabilities are computed from its own Q/K in query chunks, the policy runs on them (per KV
  head, the query heads of a group summed) and gives the occupancy ``[Hkv, T, T]`` of this layer. Because each
  layer sees the hidden states produced under the evictions of the layers below it, the result is what a
  real evicting cache computes token by token (see :mod:`sinkvis.evaluation.reference`).

The layer output is then ``softmax(QK^T * scale, masked to the occupancy) @ V``, computed in query chunks, and
the attention recall of the occupancy against the layer's full causal attention is accumulated on the way.

Positions stay the original positions (token j keeps RoPE position j whatever is evicted). StreamingLLM as
published re-numbers positions inside the cache (the sinks then the window, contiguous); that variant is not
what is measured here.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

OccupancyFn = Callable[[np.ndarray, int], np.ndarray]
"""``(probabilities [Hq, T, T] float32, group_size) -> occupancy [Hq / group_size, T, T] bool``."""


@dataclass
class EvictionPlan:
    """What the attention function does in one evaluated forward pass, and what it measured.

    Parameters
    ----------
    static_occupancy
        Boolean ``[T, T]`` (or ``[Hkv, T, T]``) occupancy for every layer, for policies that need no attention.
    attention_policy
        Callable giving the occupancy of one layer from its probabilities, for attention-driven policies.
    query_chunk
        Queries per chunk when computing logits and probabilities (bounds the peak memory).
    """

    static_occupancy: torch.Tensor | None = None
    attention_policy: OccupancyFn | None = None
    query_chunk: int = 128
    layer_recall_mean: dict[int, float] = field(default_factory=dict)
    layer_recall_worst: dict[int, float] = field(default_factory=dict)
    keep_masks: dict[int, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.static_occupancy is None) == (self.attention_policy is None):
            raise ValueError("give exactly one of static_occupancy and attention_policy")

    @property
    def attention_recall(self) -> float:
        """Mean attention recall over layers, heads and queries."""
        return float(np.mean(list(self.layer_recall_mean.values()))) if self.layer_recall_mean else 1.0

    @property
    def attention_recall_worst(self) -> float:
        """Worst per-query attention recall over all layers and heads."""
        return float(min(self.layer_recall_worst.values())) if self.layer_recall_worst else 1.0


def _base_mask(
    attention_mask: torch.Tensor | None, q_len: int, kv_len: int, num_kv: int, device: torch.device
) -> torch.Tensor:
    """The model's own mask as bool, shaped ``[1, 1, T, S]`` or ``[Hkv, G, T, S]`` (None means causal)."""
    if attention_mask is None:
        rows = torch.arange(q_len, device=device)[:, None] + (kv_len - q_len)
        return (torch.arange(kv_len, device=device)[None, :] <= rows)[None, None]
    mask = attention_mask[0, :, -q_len:, -kv_len:]
    if mask.dtype != torch.bool:  # an additive float mask: 0 keeps, a very negative value drops
        mask = mask > torch.finfo(mask.dtype).min / 2
    return mask.reshape(num_kv, -1, q_len, kv_len) if mask.shape[0] > 1 else mask[None]


def _chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(n, start + size)


def evicting_attention(
    plan: EvictionPlan,
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    softcap: float | None = None,
) -> tuple[torch.Tensor, None]:
    """Attention of one layer under the plan's occupancy; returns ``([1, T, Hq, D], None)``."""
    batch, num_heads, q_len, head_dim = query.shape
    num_kv, kv_len = key.shape[1], key.shape[2]
    if batch != 1:
        raise ValueError(f"evaluation runs one sequence at a time; got a batch of {batch}")
    if kv_len != q_len:
        raise ValueError("evaluation runs the whole sequence in one pass, without a KV cache")
    group = num_heads // num_kv
    scale = head_dim**-0.5 if scaling is None else float(scaling)
    layer = int(getattr(module, "layer_idx", 0) or 0)

    q = query[0].float().reshape(num_kv, group, q_len, head_dim)
    k_t = key[0].float().transpose(-1, -2).unsqueeze(1)  # [Hkv, 1, D, S]
    v = value[0].float().unsqueeze(1)  # [Hkv, 1, S, Dv]
    base = _base_mask(attention_mask, q_len, kv_len, num_kv, query.device)

    def logits(a: int, b: int) -> torch.Tensor:
        out = torch.matmul(q[:, :, a:b], k_t) * scale
        if softcap is not None:
            out = torch.tanh(out / softcap) * softcap
        return out

    def full_probs(a: int, b: int) -> torch.Tensor:
        return torch.softmax(logits(a, b).masked_fill(~base[..., a:b, :], float("-inf")), dim=-1)

    chunk = plan.query_chunk
    probs: torch.Tensor | None = None
    if plan.attention_policy is not None:
        probs = torch.empty(num_kv, group, q_len, kv_len, dtype=torch.float32)
        for a, b in _chunks(q_len, chunk):
            probs[:, :, a:b] = full_probs(a, b)
        occ_np = plan.attention_policy(probs.view(num_heads, q_len, kv_len).numpy(), group)
        occupancy = torch.as_tensor(np.asarray(occ_np, dtype=bool)).to(query.device)
        occupancy = occupancy.reshape(-1, 1, q_len, kv_len)  # [Hkv or 1, 1, T, S]
    else:
        occupancy = plan.static_occupancy.to(query.device)
        occupancy = occupancy.reshape(-1, 1, q_len, kv_len)
    plan.keep_masks[layer] = occupancy[:, 0, -1].cpu().numpy().copy()

    out = torch.empty(num_kv, group, q_len, v.shape[-1], dtype=torch.float32, device=query.device)
    recall_sum = 0.0
    recall_min = 1.0
    for a, b in _chunks(q_len, chunk):
        allowed = base[..., a:b, :] & occupancy[..., a:b, :]
        scores = logits(a, b)
        p_full = probs[:, :, a:b] if probs is not None else full_probs(a, b)
        recall = (p_full * allowed).sum(-1).clamp_(max=1.0)  # [Hkv, G, c]
        recall_sum += float(recall.sum(dtype=torch.float64))
        recall_min = min(recall_min, float(recall.min()))
        weights = torch.softmax(scores.masked_fill_(~allowed, float("-inf")), dim=-1)
        out[:, :, a:b] = torch.matmul(weights, v)
    plan.layer_recall_mean[layer] = recall_sum / (num_heads * q_len)
    plan.layer_recall_worst[layer] = recall_min
    attn_output = out.reshape(num_heads, q_len, -1).transpose(0, 1).unsqueeze(0).to(query.dtype)
    return attn_output.contiguous(), None


@contextlib.contextmanager
def evicting_model(model: Any, plan: EvictionPlan) -> Iterator[None]:
    """Switch ``model`` to the evicting attention of ``plan`` inside the block; restore everything after.

    Registers a uniquely named attention function (and mask function) process-wide, switches the model to it,
    and in ``finally`` switches the model back to its previous implementation and removes both
    registrations, also when the forward pass raises.
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    name = f"sinkvis_eval_{uuid.uuid4().hex[:12]}"
    original = model.config._attn_implementation

    def attention_fn(module, query, key, value, attention_mask, dropout=0.0, scaling=None, **kwargs):
        return evicting_attention(
            plan, module, query, key, value, attention_mask, scaling=scaling, softcap=kwargs.get("softcap")
        )

    AttentionInterface.register(name, attention_fn)
    AttentionMaskInterface.register(name, sdpa_mask)
    try:
        model.set_attn_implementation(name)
        if model.config._attn_implementation != name:
            raise TypeError(
                f"{type(model).__name__} does not route its attention through transformers' AttentionInterface, "
                "so SinkVis cannot apply an eviction mask per layer"
            )
        yield
    finally:
        try:
            if model.config._attn_implementation != original:
                model.set_attn_implementation(original)
        finally:
            AttentionInterface._global_mapping.pop(name, None)
            AttentionMaskInterface._global_mapping.pop(name, None)
