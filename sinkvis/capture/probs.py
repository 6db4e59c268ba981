"""Attention probabilities computed beside the model, in query chunks, and linear-memory statistics.

Everything here runs under ``torch.no_grad`` on detached tensors: it never changes what the model computes.
Masked scores are filled with the most negative finite float rather than ``-inf``, so that ``p * log p`` is 0
(not NaN) for masked keys and the statistics need no extra clean-up pass over the chunk.
"""

from __future__ import annotations

import torch

#: Keys within this many positions of the query (the query itself included) count as "local" for head roles.
LOCAL_WINDOW = 8

_NEG = torch.finfo(torch.float32).min


class ChunkMask:
    """Where query rows ``q0:q1`` may attend, with what the statistics need derived once.

    ``allowed`` is a bool ``[Hm, tq, S]`` (``Hm`` 1 or the number of heads) or None (everything allowed);
    ``additive`` a float mask to add to the scores (eager-style masks) or None. The same chunk mask serves every
    layer of a pass, so the recorder caches it.
    """

    def __init__(
        self, allowed: torch.Tensor | None, additive: torch.Tensor | None, *, keys: int | None = None,
        col0: int = 0,
    ) -> None:
        self.allowed = allowed
        self.additive = additive
        #: number of leading keys this chunk computes (a causal chunk sees no key after its last query)
        self.keys = keys
        #: blocked keys only occur from this column on (a causal chunk: the diagonal block)
        self.col0 = col0
        self.blocked = None if allowed is None else ~allowed[..., col0:]
        self._derived: dict[str, torch.Tensor | None] = {}

    def visible_keys(self, tq: int, key_len: int) -> torch.Tensor | None:
        """``[tq]`` number of keys each row may attend (None when it depends on the scores)."""
        if self.additive is not None:
            return None
        if self.allowed is None:
            return torch.full((tq,), key_len, dtype=torch.int64)
        if "visible" not in self._derived:
            self._derived["visible"] = self.allowed.any(dim=0).sum(dim=-1)
        return self._derived["visible"]

    def seen_count(self) -> torch.Tensor | None:
        """``[S]`` number of rows of this chunk that see each key (None when it depends on the scores)."""
        if self.additive is not None or self.allowed is None:
            return None
        if "seen" not in self._derived:
            self._derived["seen"] = self.allowed.any(dim=0).sum(dim=0)
        return self._derived["seen"]

    def empty_rows(self) -> torch.Tensor | None:
        """``[Hm, tq, 1]`` rows with no visible key, or None when there are none."""
        if "empty" not in self._derived:
            empty = None
            if self.allowed is not None:
                empty = ~self.allowed.any(dim=-1)
            elif self.additive is not None:
                empty = (self.additive <= _NEG / 2).all(dim=-1)
            self._derived["empty"] = empty.unsqueeze(-1) if empty is not None and bool(empty.any()) else None
        return self._derived["empty"]

    def select_heads(self, heads: list[int]) -> ChunkMask:
        a = self.allowed if self.allowed is None or self.allowed.shape[0] == 1 else self.allowed[heads]
        m = self.additive if self.additive is None or self.additive.shape[0] == 1 else self.additive[heads]
        return ChunkMask(a, m, keys=self.keys, col0=self.col0)


def chunk_mask(
    attention_mask: torch.Tensor | None,
    batch_index: int,
    q0: int,
    q1: int,
    seq_len: int,
    key_len: int,
    *,
    is_causal: bool,
    device: torch.device,
) -> ChunkMask:
    """The mask of query rows ``q0:q1`` from whatever mask the model passed to its attention function.

    A missing mask means causal with query offset ``S - T`` (what ``sdpa_mask`` encodes by returning None), or
    no mask at all for a non-causal module.
    """
    if attention_mask is None:
        if not is_causal:
            return ChunkMask(None, None)
        offset = key_len - seq_len
        keys = min(key_len, q1 + offset)  # no query of the chunk sees a later key: compute only these columns
        q = torch.arange(q0, q1, device=device)[:, None] + offset
        k = torch.arange(keys, device=device)[None, :]
        return ChunkMask((k <= q)[None], None, keys=keys, col0=max(0, min(keys, q0 + offset)))
    mask = attention_mask
    if mask.dim() == 2:  # [B, S] padding mask (flash-style implementations)
        pad = mask[batch_index].bool()[None, None, -key_len:]
        causal = chunk_mask(None, batch_index, q0, q1, seq_len, key_len, is_causal=is_causal, device=device)
        if causal.allowed is None:
            return ChunkMask(pad, None)
        return ChunkMask(causal.allowed & pad[..., : causal.keys], None, keys=causal.keys)
    if mask.dim() == 4:
        mask = mask[batch_index if mask.shape[0] > 1 else 0]
    elif mask.dim() != 3:
        raise ValueError(f"unsupported attention mask of shape {tuple(mask.shape)}")
    mask = mask[:, q0:q1, -key_len:] if mask.shape[1] > 1 else mask[:, :, -key_len:]
    if mask.dtype == torch.bool:
        return ChunkMask(mask, None)
    return ChunkMask(None, mask)


def chunk_scores(
    query: torch.Tensor,
    key: torch.Tensor,
    q0: int,
    q1: int,
    *,
    scaling: float,
    mask: ChunkMask,
    softcap: float | None = None,
) -> torch.Tensor:
    """Masked float32 attention scores ``[Hq, tq, S]`` of query rows ``q0:q1``.

    ``query`` is ``[Hq, T, D]``, ``key`` ``[Hkv, S, D]`` (not repeated for GQA: each group of ``Hq / Hkv``
    consecutive query heads reads one KV head). Masked keys hold the most negative finite float.
    """
    hq, _, d = query.shape
    hkv = key.shape[0]
    if mask.keys is not None:
        key = key[:, : mask.keys]
    s = key.shape[1]
    group = hq // hkv
    # the scaling goes on the (small) queries, not on the [H, tq, S] scores: one pass less
    q = (query[:, q0:q1].float() * scaling).reshape(hkv, group * (q1 - q0), d)
    scores = torch.bmm(q, key.float().transpose(-1, -2)).view(hq, q1 - q0, s)
    if softcap:
        scores = torch.tanh(scores / softcap) * softcap
    if mask.additive is not None:
        scores.add_(mask.additive.float()).clamp_(min=_NEG)
    if mask.blocked is not None:
        scores[..., mask.col0 :].masked_fill_(mask.blocked, _NEG)
    return scores


def zero_empty_rows(probs: torch.Tensor, mask: ChunkMask) -> torch.Tensor:
    """Rows with no visible key (full padding) become zeros instead of a uniform spread."""
    empty = mask.empty_rows()
    if empty is not None:
        probs.masked_fill_(empty, 0.0)
    return probs


class StatsAccumulator:
    """Per head and key: attention received (sum over queries) and max; per head: locality and entropy.

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

    def add_scores(self, scores: torch.Tensor, q0: int, key_offset: int, mask: ChunkMask) -> None:
        """Accumulate from masked scores ``[H, tq, S]`` (see :func:`chunk_scores`)."""
        probs = zero_empty_rows(torch.softmax(scores, dim=-1), mask)
        # row entropy without a log pass over the chunk: H = lse - sum_j p_j s_j, lse = max s - log(max p)
        lse = scores.amax(dim=-1) - torch.log(probs.amax(dim=-1).clamp_min(1e-38))
        entropy = lse - torch.linalg.vecdot(probs, scores, dim=-1)
        self._add(probs, entropy, q0, key_offset, mask)

    def add_probs(self, probs: torch.Tensor, q0: int, key_offset: int) -> None:
        """Accumulate from probabilities ``[H, tq, S]`` (e.g. weights a module returned)."""
        entropy = -torch.linalg.vecdot(probs, torch.log(probs.clamp_min(1e-38)), dim=-1)
        self._add(probs, entropy, q0, key_offset, ChunkMask(None, None), from_probs=True)

    def _add(
        self, probs: torch.Tensor, entropy: torch.Tensor, q0: int, key_offset: int, mask: ChunkMask,
        from_probs: bool = False,
    ) -> None:
        h, tq, s = probs.shape  # s may be fewer than all keys: a causal chunk computes only the keys it sees
        self.sum[:, :s] += probs.sum(dim=1)  # float32 over one chunk, float64 across chunks
        torch.maximum(self.max[:, :s], probs.amax(dim=1), out=self.max[:, :s])
        seen_count = None if from_probs else mask.seen_count()
        nkeys = None if from_probs else mask.visible_keys(tq, s)
        if seen_count is None or nkeys is None:
            seen = probs.gt(0).any(dim=0)  # [tq, S]
            nkeys = seen.sum(dim=-1)
            seen_count = seen.sum(dim=0)
        self.count[:s] += seen_count
        self.n_queries += int((nkeys > 0).sum())
        # locality: mass on the `local_window` keys ending at the query's own position
        pos = torch.arange(q0, q0 + tq) + key_offset  # [tq]
        win = pos[:, None] - torch.arange(self.local_window)[None, :]  # [tq, W]
        valid = (win >= 0) & (win < s)
        picked = probs.gather(-1, win.clamp(0, s - 1).expand(h, tq, self.local_window))
        self.locality_sum += (picked * valid).sum(dim=(1, 2), dtype=torch.float64)
        # entropy normalised by log(number of visible keys), for rows with at least two keys
        rows = nkeys >= 2
        if bool(rows.any()):
            ent = entropy  # [H, tq]
            norm = torch.where(rows, torch.log(nkeys.clamp_min(2).double()), torch.ones((), dtype=torch.float64))
            self.entropy_sum += (ent.double() * rows / norm).sum(dim=1)
            self.entropy_rows += int(rows.sum())
