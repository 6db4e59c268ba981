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
    fused
        On the CPU, for mask-only policies: compute the output and the recall with torch's fused
        flash-attention kernel (two passes, one under the occupancy and one causal, both giving each query's
        log-sum-exp) instead of the chunked computation. Same numbers to float rounding, several times faster.
    """

    static_occupancy: torch.Tensor | None = None
    attention_policy: OccupancyFn | None = None
    query_chunk: int = 128
    fused: bool = True
    layer_recall_mean: dict[int, float] = field(default_factory=dict)
    layer_recall_worst: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.static_occupancy is None) == (self.attention_policy is None):
            raise ValueError("give exactly one of static_occupancy and attention_policy")
        self._bias: dict[torch.dtype, torch.Tensor] = {}

    def fused_bias(self, dtype: torch.dtype) -> torch.Tensor:
        """The static ``[T, T]`` occupancy (causal part) as an additive CPU mask ``[1, 1, T, T]``, once per dtype."""
        if dtype not in self._bias:
            allowed = self.static_occupancy.cpu().tril()[None, None]
            self._bias[dtype] = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(~allowed, float("-inf"))
        return self._bias[dtype]

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


def _fused_kernel() -> Callable[..., tuple[torch.Tensor, torch.Tensor]] | None:
    """torch's CPU flash-attention kernel, which returns the output *and* each query's log-sum-exp."""
    return getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)


class _Layer:
    """One layer's queries, keys and values, per query head, for the chunked computation."""

    def __init__(self, query, key, value, attention_mask, scale: float, softcap: float | None, chunk: int):
        _, self.num_heads, self.q_len, self.head_dim = query.shape
        self.num_kv, self.kv_len = key.shape[1], key.shape[2]
        self.group = self.num_heads // self.num_kv
        self.softcap = softcap
        self.scale = scale
        # with a softcap the scale goes inside the tanh; otherwise fold it into the queries
        self.q = query[0].float() * (1.0 if softcap is not None else scale)  # [Hq, T, D]
        self.k_t = key[0].float().transpose(-1, -2).repeat_interleave(self.group, dim=0)  # [Hq, D, S]
        self.v = value[0].float().repeat_interleave(self.group, dim=0)  # [Hq, S, Dv]
        base = _base_mask(attention_mask, self.q_len, self.kv_len, self.num_kv, query.device)
        self.dropped = (~base).reshape(-1, self.q_len, self.kv_len)  # [1|Hq, T, S]
        # with the model's causal mask (None) keys after a chunk's last query are never needed, and only the
        # diagonal block of each chunk needs masking
        self.causal = attention_mask is None
        self.chunks = [(a, b, b if self.causal else self.kv_len) for a, b in _chunks(self.q_len, chunk)]

    def logits(self, a: int, b: int, n: int) -> torch.Tensor:
        """Masked logits ``[Hq, c, n]`` of queries ``a:b`` over keys ``:n``."""
        out = torch.bmm(self.q[:, a:b], self.k_t[..., :n])
        if self.softcap is not None:
            out = torch.tanh(out * (self.scale / self.softcap)) * self.softcap
        start = a if self.causal else 0
        out[..., start:].masked_fill_(self.dropped[:, a:b, start:n], float("-inf"))
        return out

    def probabilities(self) -> torch.Tensor:
        """Full causal probabilities ``[Hq, T, S]`` (float32), computed in query chunks, in place."""
        probs = torch.empty(self.num_heads, self.q_len, self.kv_len, device=self.q.device)
        for a, b, n in self.chunks:
            rows = probs[:, a:b, :n]
            rows.copy_(self.logits(a, b, n))
            rows.sub_(rows.amax(-1, keepdim=True)).exp_()
            rows.div_(rows.sum(-1, keepdim=True))
            probs[:, a:b, n:] = 0.0
        return probs

    def attend(self, occupancy: torch.Tensor, probs: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Output ``[Hq, T, Dv]`` and recall ``[Hq, T]`` under ``occupancy`` (bool ``[1|Hkv, T, S]``).

        Per chunk: ``r = sum_j P[t, j] O[t, j]`` and ``(P * O) @ V / r``, the softmax over the cached keys.
        Rows whose kept mass underflows float32 are recomputed as a masked softmax of the logits.
        """
        out = torch.empty(self.num_heads, self.q_len, self.v.shape[-1], device=self.q.device)
        recall = torch.empty(self.num_heads, self.q_len, device=self.q.device)
        for a, b, n in self.chunks:
            kept_keys = occupancy[:, a:b, :n]
            if kept_keys.shape[0] > 1:
                kept_keys = kept_keys.repeat_interleave(self.group, dim=0)
            gone = self.dropped[:, a:b, :n] | ~kept_keys
            if probs is not None:
                weights = probs[:, a:b, :n].masked_fill(gone, 0.0)
            else:  # a temporary: mask it in place
                weights = torch.softmax(self.logits(a, b, n), dim=-1).masked_fill_(gone, 0.0)
            kept = weights.sum(-1, keepdim=True)
            recall[:, a:b] = kept[..., 0]
            chunk_out = torch.bmm(weights, self.v[:, :n]) / kept.clamp_min(1e-30)
            lost = kept[..., 0] < 1e-30
            if bool(lost.any()):  # every cached key's probability underflowed: softmax the logits
                exact = torch.softmax(self.logits(a, b, n).masked_fill_(gone, float("-inf")), dim=-1)
                chunk_out = torch.where(lost[..., None], torch.bmm(exact, self.v[:, :n]), chunk_out)
            out[:, a:b] = chunk_out
        return out, recall


def _attend_fused(
    kernel: Callable[..., tuple[torch.Tensor, torch.Tensor]],
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    bias: torch.Tensor,
    scale: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Output ``[1, T, Hq, Dv]`` and recall ``[Hq, T]`` with torch's fused CPU kernel.

    Two fused passes: under the occupancy (``bias``, additive ``[1, 1, T, S]``: 0 kept, -inf evicted) for the
    output and its log-sum-exp, and causal for the full log-sum-exp; the recall is ``exp(lse_cached - lse_full)``.
    """
    group = query.shape[1] // key.shape[1]
    if group > 1:
        key, value = key.repeat_interleave(group, dim=1), value.repeat_interleave(group, dim=1)
    out, lse_cached = kernel(query, key, value, 0.0, False, attn_mask=bias, scale=scale)
    _, lse_full = kernel(query, key, value, 0.0, True, scale=scale)
    recall = torch.exp(lse_cached.float() - lse_full.float()).clamp_(max=1.0)[0]
    return out.transpose(1, 2), recall


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
    """Attention of one layer under the plan's occupancy; returns ``([1, T, Hq, Dv], None)``.

    For an attention-driven policy the layer's full causal probabilities are computed in query chunks and the
    policy gives the occupancy per KV head. The output is the softmax over the cached keys only; the
    attention recall of the occupancy against the full causal attention is recorded in ``plan``.
    """
    batch, num_heads, q_len, head_dim = query.shape
    kv_len = key.shape[2]
    if batch != 1:
        raise ValueError(f"evaluation runs one sequence at a time; got a batch of {batch}")
    if kv_len != q_len:
        raise ValueError("evaluation runs the whole sequence in one pass, without a KV cache")
    scale = head_dim**-0.5 if scaling is None else float(scaling)
    layer_idx = int(getattr(module, "layer_idx", 0) or 0)

    kernel = _fused_kernel() if plan.fused else None
    on_cpu_plain = query.device.type == "cpu" and softcap is None and attention_mask is None
    one_mask = plan.static_occupancy is not None and plan.static_occupancy.dim() == 2
    if one_mask and kernel is not None and on_cpu_plain:
        attn_output, recall = _attend_fused(kernel, query, key, value, plan.fused_bias(query.dtype), scale)
    else:  # chunk by chunk (attention-driven policies need the probabilities anyway)
        layer = _Layer(query, key, value, attention_mask, scale, softcap, plan.query_chunk)
        probs = None
        if plan.attention_policy is not None:
            probs = layer.probabilities()
            occ_np = plan.attention_policy(probs.cpu().numpy(), layer.group)
            occupancy = torch.as_tensor(np.asarray(occ_np, dtype=bool))
        else:
            occupancy = plan.static_occupancy
        occupancy = occupancy.to(query.device).reshape(-1, q_len, kv_len)  # [Hkv or 1, T, S]
        out, recall = layer.attend(occupancy, probs)
        attn_output = out.transpose(0, 1).unsqueeze(0)
    plan.layer_recall_mean[layer_idx] = min(1.0, float(recall.double().mean()))
    plan.layer_recall_worst[layer_idx] = min(1.0, float(recall.min()))
    return attn_output.to(query.dtype).contiguous(), None


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
