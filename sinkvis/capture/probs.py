"""Attention probabilities computed beside the model, in query chunks, and linear-memory statistics.

Everything here runs under ``torch.no_grad`` on detached tensors: it never changes what the model computes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

#: Keys within this many positions of the query (the query itself included) count as "local" for head roles.
LOCAL_WINDOW = 8


def allowed_chunk(
    attention_mask: torch.Tensor | None,
    batch_index: int,
    q0: int,
    q1: int,
    seq_len: int,
    key_len: int,
    *,
    is_causal: bool,
    device: torch.device,
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Return ``(allowed, additive)`` for query rows ``q0:q1``.

    ``allowed`` is a bool ``[Hm, tq, S]`` tensor (``Hm`` is 1 or the number of heads) where a key may be
    attended, ``additive`` a float mask to add to the scores (eager masks), either one ``None``.
    A missing mask means causal with query offset ``S - T`` (what ``sdpa_mask`` encodes by returning None).
    """
    if attention_mask is None:
        if not is_causal or (q1 - q0 == 1 and seq_len == 1):
            return None, None
        offset = key_len - seq_len
        q = torch.arange(q0, q1, device=device)[:, None] + offset
        k = torch.arange(key_len, device=device)[None, :]
        return (k <= q)[None], None
    mask = attention_mask
    if mask.dim() == 2:  # [B, S] padding mask (flash-style implementations)
        pad = mask[batch_index].bool()[None, None, :]
        causal, _ = allowed_chunk(
            None, batch_index, q0, q1, seq_len, key_len, is_causal=is_causal, device=device
        )
        return (pad if causal is None else causal & pad), None
    if mask.dim() == 4:
        mask = mask[batch_index if mask.shape[0] > 1 else 0]
    elif mask.dim() != 3:
        raise ValueError(f"unsupported attention mask of shape {tuple(mask.shape)}")
    mask = mask[:, q0:q1, -key_len:] if mask.shape[1] > 1 else mask[:, :, -key_len:]
    if mask.dtype == torch.bool:
        return mask, None
    return None, mask


def chunk_probs(
    query: torch.Tensor,
    key: torch.Tensor,
    q0: int,
    q1: int,
    *,
    scaling: float,
    allowed: torch.Tensor | None,
    additive: torch.Tensor | None,
    softcap: float | None = None,
) -> torch.Tensor:
    """Softmax attention probabilities of query rows ``q0:q1`` in float32.

    ``query`` is ``[Hq, T, D]``, ``key`` ``[Hkv, S, D]`` (not repeated for GQA). Returns ``[Hq, tq, S]``.
    Rows with no allowed key (full padding) come out as zeros, not NaN.
    """
    hq, _, d = query.shape
    hkv, s, _ = key.shape
    group = hq // hkv
    q = query[:, q0:q1].float().reshape(hkv, group, q1 - q0, d)
    scores = torch.matmul(q, key.float().transpose(-1, -2).unsqueeze(1)).reshape(hq, q1 - q0, s)
    scores.mul_(scaling)
    if softcap:
        scores = torch.tanh(scores / softcap) * softcap
    if additive is not None:
        scores = scores + additive.float()
    if allowed is not None:
        scores.masked_fill_(~allowed, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    return torch.nan_to_num_(probs, nan=0.0)


class StatsAccumulator:
    """Per head and key: attention received (sum over queries), max, and per head locality and entropy.

    Memory is linear in the number of keys: ``[H, S]`` sums and maxima, ``[S]`` query counts.
    """

    def __init__(self, num_heads: int, key_len: int, *, local_window: int = LOCAL_WINDOW) -> None:
        self.local_window = local_window
        self.sum = torch.zeros(num_heads, key_len, dtype=torch.float64)
        self.max = torch.zeros(num_heads, key_len, dtype=torch.float32)
        self.count = torch.zeros(key_len, dtype=torch.int64)
        self.locality_sum = torch.zeros(num_heads, dtype=torch.float64)
        self.entropy_sum = torch.zeros(num_heads, dtype=torch.float64)
        self.entropy_rows = 0
        self.n_queries = 0

    def add(self, probs: torch.Tensor, q0: int, key_offset: int) -> None:
        """Accumulate probabilities ``[H, tq, S]`` of query rows starting at ``q0``.

        ``key_offset`` is ``S - T``: query ``i`` sits at key position ``i + key_offset``.
        """
        h, tq, s = probs.shape
        self.sum += probs.sum(dim=1, dtype=torch.float64)
        torch.maximum(self.max, probs.amax(dim=1), out=self.max)
        seen = probs.gt(0).any(dim=0)  # [tq, S] keys attended by some head
        self.count += seen.sum(dim=0)
        valid = seen.any(dim=1)  # rows that are not fully padded
        self.n_queries += int(valid.sum())
        # locality: mass on the LOCAL_WINDOW keys ending at the query's own position
        pos = torch.arange(q0, q0 + tq) + key_offset
        cum = probs.cumsum(dim=-1)
        hi = cum.gather(-1, pos.clamp(0, s - 1).view(1, tq, 1).expand(h, tq, 1))
        lo_idx = pos - self.local_window
        lo = torch.where(
            (lo_idx >= 0).view(1, tq, 1),
            cum.gather(-1, lo_idx.clamp(0, s - 1).view(1, tq, 1).expand(h, tq, 1)),
            torch.zeros(()),
        )
        self.locality_sum += (hi - lo).squeeze(-1).sum(dim=1, dtype=torch.float64)
        # entropy normalised by log(number of visible keys), for rows with at least two keys
        nkeys = seen.sum(dim=1)
        rows = nkeys >= 2
        if bool(rows.any()):
            p = probs[:, rows]
            ent = -(p * torch.log(p.clamp_min(1e-30))).sum(-1) / torch.log(nkeys[rows].double()).float()
            self.entropy_sum += ent.sum(dim=1, dtype=torch.float64)
            self.entropy_rows += int(rows.sum())


ProbsFn = Callable[[int, int], torch.Tensor]


def run_chunks(seq_len: int, chunk: int, fn: Callable[[int, int], None]) -> None:
    """Call ``fn(q0, q1)`` over query chunks of at most ``chunk`` rows."""
    for q0 in range(0, seq_len, chunk):
        fn(q0, min(seq_len, q0 + chunk))
