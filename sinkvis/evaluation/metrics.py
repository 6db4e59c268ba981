"""Next-token metrics of a forward pass against the full-cache forward pass."""

from __future__ import annotations

import math

import torch


def _positions(logits: torch.Tensor) -> torch.Tensor:
    """``[T, V]`` logits of the positions that predict a known next token (all but the last)."""
    if logits.ndim == 3:
        logits = logits[0]
    return logits[:-1]


def token_nll(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood (float32 ``[T - 1]``) of each next token under ``logits`` ``[1, T, V]`` or ``[T, V]``."""
    ids = input_ids.reshape(-1)[1:].to(logits.device)
    return torch.nn.functional.cross_entropy(_positions(logits).float(), ids, reduction="none")


def perplexity(logits: torch.Tensor, input_ids: torch.Tensor) -> float:
    """Perplexity ``exp(mean NLL)`` of the sequence's next tokens (the mean as transformers' loss takes it)."""
    return math.exp(float(token_nll(logits, input_ids).mean()))


def compare_to_full(logits: torch.Tensor, full_log_probs: torch.Tensor, *, row_chunk: int = 256) -> tuple[float, float]:
    """Mean KL(full || policy) of the next-token distributions, and the top-1 agreement.

    Parameters
    ----------
    logits
        The evaluated pass's logits ``[1, T, V]`` or ``[T, V]``.
    full_log_probs
        Log-softmax of the full-cache logits ``[T - 1, V]`` (positions that predict a known token).
    row_chunk
        Positions per chunk (bounds the temporary memory to a few ``row_chunk x V`` arrays).
    """
    rows = _positions(logits)
    kl_sum = 0.0
    agree = 0
    for a in range(0, rows.shape[0], row_chunk):
        log_q = torch.log_softmax(rows[a : a + row_chunk].float(), dim=-1)
        log_p = full_log_probs[a : a + row_chunk]
        kl_sum += float((log_p.exp() * (log_p - log_q)).sum(dtype=torch.float64))
        agree += int((log_q.argmax(-1) == log_p.argmax(-1)).sum())
    n = max(1, rows.shape[0])
    return max(0.0, kl_sum / n), agree / n
