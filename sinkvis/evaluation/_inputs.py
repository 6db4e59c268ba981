"""Validation of what `evaluate` is given: the model, the tokens, the policies and the budgets."""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


@dataclass(frozen=True)
class ModelShape:
    """What the KV cache of a model holds per token."""

    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    dtype_bytes: int
    vocab_size: int
    max_positions: int | None

    def kv_bytes(self, tokens: int) -> int:
        """KV-cache bytes for ``tokens`` cached tokens: 2 x layers x KV heads x head dim x tokens x dtype bytes."""
        return 2 * self.num_layers * self.num_kv_heads * self.head_dim * int(tokens) * self.dtype_bytes


def resolve_source(source: Any, input_ids: Any) -> tuple[Any, torch.Tensor]:
    """``(model, input_ids [1, T])`` from a SinkVis session or from a model plus token ids."""
    if not isinstance(source, torch.nn.Module) and (hasattr(type(source), "input_ids") or hasattr(source, "model")):
        if input_ids is not None:
            raise TypeError("give input_ids only with a model; a SinkVis session brings its own tokens")
        model = getattr(source, "model", None)
        try:
            ids = source.input_ids
        except Exception as err:  # the session's own "nothing captured" error
            raise RuntimeError(
                f"nothing to evaluate yet: run the model inside `with SinkVis(model) as sv:` first ({err})"
            ) from err
        if ids is None or np.asarray(ids).size == 0:
            raise RuntimeError(
                "nothing to evaluate yet: no forward pass was captured. Run the model inside "
                "`with SinkVis(model) as sv:` first, or call evaluate(model, input_ids)."
            )
        if model is None:
            raise RuntimeError(
                "the session's model is gone (it was released or garbage-collected); "
                "call evaluate(model, input_ids) with a live model"
            )
    else:
        model, ids = source, input_ids
        if model is None:
            raise TypeError("evaluate needs a SinkVis session or a model; got None")
        if ids is None:
            raise TypeError("evaluate(model, input_ids): input_ids is missing")
    check_causal_lm(model)
    return model, as_input_ids(ids)


def check_causal_lm(model: Any) -> None:
    """Raise TypeError unless ``model`` is a transformers causal LM that uses the attention interface."""
    name = type(model).__name__
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "config"):
        raise TypeError(
            f"evaluate needs a Hugging Face transformers causal language model (e.g. ...ForCausalLM); got {name}"
        )
    get_head = getattr(model, "get_output_embeddings", None)
    if get_head is None or get_head() is None:
        raise TypeError(
            f"{name} is not a causal language model (it has no language-modelling head, so no next-token "
            "logits to score); load it with AutoModelForCausalLM"
        )
    can_set = getattr(model, "_can_set_attn_implementation", None)
    if can_set is None or not can_set():
        raise TypeError(
            f"{name} does not route its attention through transformers' AttentionInterface, "
            "so SinkVis cannot apply an eviction mask per layer"
        )


def as_input_ids(ids: Any) -> torch.Tensor:
    """Token ids as a long tensor ``[1, T]``."""
    if isinstance(ids, dict) or hasattr(ids, "keys"):
        ids = ids["input_ids"]
    tensor = torch.as_tensor(np.asarray(ids.cpu() if hasattr(ids, "cpu") else ids))
    if tensor.ndim == 2 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.ndim != 1:
        raise ValueError(f"input_ids must be one sequence, [T] or [1, T]; got shape {tuple(tensor.shape)}")
    if tensor.dtype.is_floating_point or tensor.dtype == torch.bool:
        raise TypeError(f"input_ids must be integer token ids; got dtype {tensor.dtype}")
    if tensor.numel() < 2:
        raise ValueError("evaluation needs at least 2 tokens (perplexity scores each next token)")
    return tensor.long()[None]


def model_shape(model: Any) -> ModelShape:
    """Layers, heads, KV heads, head dim, dtype size, vocabulary size and position limit from the config."""
    cfg = model.config
    if hasattr(cfg, "get_text_config"):
        cfg = cfg.get_text_config()
    heads = int(cfg.num_attention_heads)
    kv_heads = int(getattr(cfg, "num_key_value_heads", None) or heads)
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    param = next(model.parameters())
    return ModelShape(
        num_layers=int(cfg.num_hidden_layers),
        num_heads=heads,
        num_kv_heads=kv_heads,
        head_dim=int(head_dim),
        dtype_bytes=param.element_size(),
        vocab_size=int(getattr(cfg, "vocab_size", 0) or 0),
        max_positions=getattr(cfg, "max_position_embeddings", None),
    )


def check_budgets(budgets: Any) -> list[int]:
    """Budgets as a list of distinct ints >= 1 (a single int is allowed)."""
    if isinstance(budgets, (numbers.Integral, np.integer)) and not isinstance(budgets, bool):
        budgets = [budgets]
    if isinstance(budgets, (str, bytes)) or not isinstance(budgets, Iterable):
        raise TypeError(f"budgets must be an int or a list of ints; got {budgets!r}")
    out: list[int] = []
    for b in budgets:
        if isinstance(b, bool) or not isinstance(b, (numbers.Integral, np.integer)):
            raise TypeError(f"each budget must be an int (a number of KV entries); got {b!r}")
        if b < 1:
            raise ValueError(f"budget must be >= 1 (the current token needs a slot); got {b}")
        if int(b) not in out:
            out.append(int(b))
    if not out:
        raise ValueError("budgets is empty: give at least one budget")
    return out


def check_policies(policies: str | Sequence[str] | None, valid: Sequence[str]) -> list[str]:
    """Policy names, each checked against the registry (``None`` means every registered policy)."""
    if policies is None:
        return list(valid)
    if isinstance(policies, str):
        policies = [policies]
    out: list[str] = []
    for p in policies:
        if not isinstance(p, str) or p not in valid:
            raise ValueError(f"unknown policy {p!r}; valid policies: {', '.join(valid)}")
        if p not in out:
            out.append(p)
    if not out:
        raise ValueError(f"policies is empty; valid policies: {', '.join(valid)}")
    return out


def default_budgets(seq_len: int, sink_count: int) -> list[int]:
    """A few budgets spread over the sequence: T/8, T/4, T/2 (at least ``sink_count + 2``)."""
    picks = {max(sink_count + 2, seq_len // d) for d in (8, 4, 2)}
    return sorted(b for b in picks if b < seq_len) or [max(1, seq_len - 1)]
