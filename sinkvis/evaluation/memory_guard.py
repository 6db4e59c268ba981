"""How much memory an evaluation needs, estimated before it runs, and the refusal when it does not fit."""

from __future__ import annotations

from ._inputs import ModelShape

GIB = 1024**3


class EvaluationMemoryError(MemoryError):
    """The evaluation would need more memory than is available (or than ``max_memory_bytes`` allows)."""


def estimate_bytes(shape: ModelShape, seq_len: int, *, uses_attention: bool, query_chunk: int = 128) -> int:
    """Peak extra memory (bytes, float32 working precision) of one evaluated forward pass.

    Counts the full-cache log-probabilities kept for the KL divergence and the pass's own logits
    (``2 x T x V``), the query-chunk temporaries (a few ``Hq x chunk x T`` arrays), the occupancy and the
    additive mask handed to the fused kernel (``T x T`` bools and floats), and for attention-driven policies one
    layer's full causal probabilities (``Hq x T x T`` floats, plus as much again for the policy's own working
    arrays and the per-head mask) and the per-head occupancy.

    Parameters
    ----------
    shape
        The model's KV-cache shape and vocabulary size (:func:`~sinkvis.evaluation._inputs.model_shape`).
    seq_len
        Tokens evaluated (T).
    uses_attention
        Whether an attention-driven policy is among those evaluated.
    query_chunk
        Queries per chunk.

    Returns
    -------
    int
        Estimated bytes.
    """
    t = int(seq_len)
    logits = 2 * t * shape.vocab_size * 4 + 2 * min(t, 256) * shape.vocab_size * 4
    chunk = 6 * shape.num_heads * min(t, query_chunk) * t * 4
    masks = 2 * t * t * (1 + 4)
    per_layer = 0
    if uses_attention:
        per_layer = 3 * shape.num_heads * t * t * 4 + 2 * shape.num_heads * t * t
    return logits + chunk + masks + per_layer


def available_bytes() -> int:
    """Memory the process can still use: the system's available memory (psutil)."""
    import psutil

    return int(psutil.virtual_memory().available)


def check_memory(
    shape: ModelShape,
    seq_len: int,
    *,
    uses_attention: bool,
    query_chunk: int = 128,
    max_memory_bytes: int | None = None,
) -> int:
    """Raise :class:`EvaluationMemoryError` when the estimated need exceeds the limit; return the estimate.

    The limit is ``max_memory_bytes`` when given, else 80 % of the memory available now.
    """
    need = estimate_bytes(shape, seq_len, uses_attention=uses_attention, query_chunk=query_chunk)
    limit = int(max_memory_bytes) if max_memory_bytes is not None else int(0.8 * available_bytes())
    if need > limit:
        what = (
            "one layer's full causal attention for an attention-driven policy"
            if uses_attention
            else "the logits and the query chunks"
        )
        raise EvaluationMemoryError(
            f"evaluating {seq_len} tokens needs about {need / GIB:.2f} GiB (mostly {what}), more than the "
            f"{limit / GIB:.2f} GiB allowed. Evaluate a shorter sequence, use mask-only policies "
            "(sliding_window, streaming_llm), which need far less, or raise max_memory_bytes."
        )
    return need
