"""`evaluate`: run the real model under each (policy, budget) and measure what the eviction costs."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ._inputs import ModelShape, check_budgets, check_policies, default_budgets, model_shape, resolve_source
from .forward import EvictionPlan, evicting_model
from .memory_guard import check_memory
from .metrics import compare_to_full, perplexity
from .report import EvaluationReport


def _registry() -> Any:
    """The policy registry of :mod:`sinkvis.simulation` (imported late: it is an optional neighbour)."""
    from sinkvis import simulation

    return simulation


def _dry_run(registry: Any, policy: str, budget: int, sink_count: int, params: dict[str, Any]) -> None:
    """Run the policy once on a tiny uniform attention so bad parameters fail before any model work."""
    n = min(budget + 2, 64)  # parameters are checked whatever T is; keep the dry run cheap
    attention = np.tril(np.ones((n, n), dtype=np.float32))
    attention /= attention.sum(-1, keepdims=True)
    registry.run_policy(policy, budget=budget, attention=attention, sink_count=sink_count, **params)


def _plan(
    registry: Any, policy: str, budget: int, seq_len: int, sink_count: int, params: dict[str, Any], chunk: int
) -> EvictionPlan:
    if registry.get_policy(policy).uses_attention:

        def occupancy(probs: np.ndarray, group_size: int) -> np.ndarray:
            result = registry.run_policy(
                policy,
                budget=budget,
                attention=probs,
                sink_count=sink_count,
                group_size=group_size,
                return_occupancy=True,
                **params,
            )
            return result.occupancy

        return EvictionPlan(attention_policy=occupancy, query_chunk=chunk)
    result = registry.run_policy(
        policy, budget=budget, seq_len=seq_len, sink_count=sink_count, return_occupancy=True, **params
    )
    return EvictionPlan(static_occupancy=torch.as_tensor(np.asarray(result.occupancy, dtype=bool)), query_chunk=chunk)


def _row(
    policy: str, budget: int, sink_count: int, shape: ModelShape, seq_len: int, **metrics: float
) -> dict[str, Any]:
    kept = seq_len if policy == "full" else min(seq_len, budget)
    return {
        "policy": policy,
        "budget": budget,
        "sink_count": sink_count,
        **metrics,
        "kv_bytes": shape.kv_bytes(kept),
    }


def evaluate(
    source: Any,
    input_ids: Any = None,
    *,
    policies: str | Sequence[str] | None = None,
    budgets: int | Sequence[int] | None = None,
    sink_count: int = 4,
    policy_params: dict[str, dict[str, Any]] | None = None,
    progress: bool = True,
    query_chunk: int = 128,
    max_memory_bytes: int | None = None,
) -> EvaluationReport:
    """Run the real model under each (policy, budget) and report what the eviction costs.

    Each (policy, budget) is one forward pass of the whole sequence in which every attention layer attends
    only to the keys its cache would hold (per KV head). Attention-driven policies (``h2o``, ``lru``,
    ``tova``, ...) are simulated layer by layer inside that pass from the attention the layer really
    computes under the evictions below it, so the numbers equal a token-by-token decode with a real evicting
    cache (:func:`sinkvis.evaluation.decode_with_evicting_cache`). Positions stay the original positions;
    StreamingLLM as published re-numbers positions inside the cache, which is not what is measured here.

    Parameters
    ----------
    source
        A :class:`sinkvis.SinkVis` session after a captured forward pass (its model and tokens are used), or a
        transformers causal LM (then give ``input_ids``).
    input_ids
        Token ids ``[T]`` or ``[1, T]`` (or a tokenizer's output dict) when ``source`` is a model.
    policies
        Policy names from :func:`sinkvis.simulation.list_policies`; None means every registered policy.
    budgets
        KV entries kept (an int or a list of ints >= 1); None means T/8, T/4 and T/2.
    sink_count
        Sink tokens kept by the policies that keep sinks.
    policy_params
        Extra keyword arguments per policy name, e.g. ``{"h2o": {"recent_window": 16}}``.
    progress
        Show a progress bar over the sweep (``tqdm.auto``: a widget in notebooks, text elsewhere).
    query_chunk
        Queries per chunk when computing attention (bounds the temporary memory).
    max_memory_bytes
        Refuse to run when the estimated extra memory exceeds this (default: 80 % of available memory).

    Returns
    -------
    EvaluationReport
        ``.rows``: one dict per (policy, budget) with ``policy, budget, sink_count, perplexity, kl`` (mean
        KL(full || policy) of the next-token distributions, nats), ``top1`` (share of positions whose argmax
        agrees with the full cache), ``attention_recall`` (mean over layers, heads and queries of the share
        of full-cache attention on cached keys), ``attention_recall_worst``, ``kv_bytes`` and ``seconds``.
        ``full`` appears once, with ``budget`` = T, and equals the plain forward pass exactly.

    Raises
    ------
    ValueError
        Unknown policy (the message lists the valid ones), budget < 1, bad policy parameters.
    TypeError
        A budget that is not an int, a model that is not a transformers causal LM.
    RuntimeError
        A session with no captured forward pass, or whose model is gone.
    EvaluationMemoryError
        The sequence is too long for the memory available.
    """
    model, ids = resolve_source(source, input_ids)
    seq_len = ids.shape[1]
    shape = model_shape(model)
    if shape.max_positions is not None and seq_len > shape.max_positions:
        raise ValueError(f"the sequence has {seq_len} tokens, more than the model's {shape.max_positions} positions")
    if isinstance(sink_count, bool) or not isinstance(sink_count, (int, np.integer)) or sink_count < 0:
        raise ValueError(f"sink_count must be an int >= 0; got {sink_count!r}")
    if not isinstance(query_chunk, int) or query_chunk < 1:
        raise ValueError(f"query_chunk must be a positive int; got {query_chunk!r}")
    registry = _registry()
    names = check_policies(policies, registry.list_policies())
    budget_list = default_budgets(seq_len, int(sink_count)) if budgets is None else check_budgets(budgets)
    params = {p: dict((policy_params or {}).get(p, {})) for p in names}
    unknown = set(policy_params or {}) - set(names)
    if unknown:
        raise ValueError(f"policy_params names policies not evaluated: {sorted(unknown)}")
    jobs = [(p, b) for p in names if p != "full" for b in budget_list]
    for p, b in jobs:
        # built-in parameters are checked on a tiny sequence; a user policy's parameters may depend on the real
        # length (per-token arrays), so those are checked by the run itself
        if b < seq_len and registry.get_policy(p).builtin:
            _dry_run(registry, p, b, int(sink_count), params[p])
    uses_attention = any(registry.get_policy(p).uses_attention for p, b in jobs if b < seq_len)
    check_memory(
        shape, seq_len, uses_attention=uses_attention, query_chunk=query_chunk, max_memory_bytes=max_memory_bytes
    )

    from tqdm.auto import tqdm

    device = next(model.parameters()).device
    ids = ids.to(device)
    was_training = model.training
    rows: list[dict[str, Any]] = []
    try:
        model.eval()
        with torch.no_grad():
            start = time.perf_counter()
            out = model(input_ids=ids, use_cache=False)
            full_seconds = time.perf_counter() - start
            logits = getattr(out, "logits", None)
            if logits is None or logits.ndim != 3 or logits.shape[1] != seq_len:
                raise TypeError(f"{type(model).__name__} returned no next-token logits [1, T, V]")
            full_ppl = perplexity(logits, ids)
            full_log_probs = torch.log_softmax(logits[0, :-1].float(), dim=-1)
            del out, logits

            def full_cache_row(policy: str, budget: int, seconds: float) -> dict[str, Any]:
                return _row(policy, budget, int(sink_count), shape, seq_len, perplexity=full_ppl, kl=0.0, top1=1.0,
                            attention_recall=1.0, attention_recall_worst=1.0, seconds=seconds)

            if "full" in names:
                rows.append(full_cache_row("full", seq_len, full_seconds))
            bar = tqdm(jobs, desc="sinkvis evaluate", disable=not progress, leave=False)
            for policy, budget in bar:
                bar.set_postfix_str(f"{policy} B={budget}")
                if budget >= seq_len:  # nothing is ever evicted: the full cache, exactly
                    rows.append(full_cache_row(policy, budget, 0.0))
                    continue
                start = time.perf_counter()
                plan = _plan(registry, policy, budget, seq_len, int(sink_count), params[policy], query_chunk)
                with evicting_model(model, plan):
                    logits = model(input_ids=ids, use_cache=False).logits
                kl, top1 = compare_to_full(logits, full_log_probs)
                rows.append(
                    _row(
                        policy,
                        budget,
                        int(sink_count),
                        shape,
                        seq_len,
                        perplexity=perplexity(logits, ids),
                        kl=kl,
                        top1=top1,
                        attention_recall=plan.attention_recall,
                        attention_recall_worst=plan.attention_recall_worst,
                        seconds=time.perf_counter() - start,
                    )
                )
                del logits
            bar.close()
    finally:
        model.train(was_training)
    return EvaluationReport(rows, seq_len=seq_len, full_perplexity=full_ppl)
