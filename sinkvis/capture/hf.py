"""Capture for HuggingFace transformers models, whatever their attention implementation.

SinkVis registers a process-wide attention function under a unique name (``AttentionInterface`` and
``AttentionMaskInterface``) and switches the model to it for the duration of the ``with`` block. The function
calls the model's *own* implementation for the output — so the model computes exactly what it computed before,
bit for bit (an sdpa model stays sdpa) — and records the probabilities beside it: the weights an eager
implementation returns, or probabilities recomputed in query chunks from the same queries, keys and mask.
On exit the original implementation is restored and the names are unregistered, also when the block raises.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import torch

from .recorder import Recorder


def is_hf_model(model: torch.nn.Module) -> bool:
    """True for a transformers ``PreTrainedModel`` whose attention goes through ``AttentionInterface``."""
    config = getattr(model, "config", None)
    return (
        config is not None
        and hasattr(config, "_attn_implementation")
        and hasattr(model, "set_attn_implementation")
        and any(hasattr(m, "layer_idx") for m in model.modules())
    )


def count_layers(model: torch.nn.Module) -> int:
    """Number of attention layers (distinct ``layer_idx`` values of attention modules)."""
    config = model.config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    n = getattr(text, "num_hidden_layers", None) or getattr(text, "n_layer", None)
    if n:
        return int(n)
    return len({m.layer_idx for m in model.modules() if getattr(m, "layer_idx", None) is not None})


def _eager_for(module: torch.nn.Module) -> Callable:
    mod = sys.modules.get(type(module).__module__)
    fn = getattr(mod, "eager_attention_forward", None)
    if fn is None:
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        return sdpa_attention_forward  # pragma: no cover - every attention module file defines its eager path
    return fn


class HFAttentionHook:
    """Installs and removes the recording attention function on a transformers model."""

    def __init__(self, model: torch.nn.Module, recorder: Recorder) -> None:
        self.model = model
        self.recorder = recorder
        self.name = f"sinkvis_{id(self):x}"
        self._saved: dict[int, tuple[Any, str]] = {}
        self._top: str | None = None
        self._installed = False

    def install(self) -> None:
        from transformers import AttentionInterface
        from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

        if hasattr(self.model, "_can_set_attn_implementation") and not self.model._can_set_attn_implementation():
            raise ValueError(
                f"{type(self.model).__name__} does not dispatch attention through transformers' AttentionInterface; "
                "capture it with SinkVis(model, attention_modules=[...]) (the generic hook)."
            )
        self._top = self.model.config._attn_implementation
        for module in self.model.modules():
            config = getattr(module, "config", None)
            if config is not None and hasattr(config, "_attn_implementation"):
                self._saved[id(config)] = (config, config._attn_implementation)
        originals = {key: impl for key, (_, impl) in self._saved.items()}
        mask_fn = ALL_MASK_ATTENTION_FUNCTIONS.get(self._top) or ALL_MASK_ATTENTION_FUNCTIONS["sdpa"]
        AttentionInterface.register(self.name, self._make_fn(originals))
        AttentionMaskInterface.register(self.name, mask_fn)
        try:
            self.model.set_attn_implementation(self.name)
        except Exception:
            self._unregister()
            raise
        self._installed = True

    def _make_fn(self, originals: dict[int, str]) -> Callable:
        from transformers import AttentionInterface

        recorder = self.recorder
        table = AttentionInterface._global_mapping

        def sinkvis_attention(module, query, key, value, attention_mask, **kwargs):
            impl = originals.get(id(getattr(module, "config", None)), self._top)
            base = _eager_for(module) if impl in (None, "eager") else table[impl]
            out, weights = base(module, query, key, value, attention_mask, **kwargs)
            layer = getattr(module, "layer_idx", None)
            if layer is None or not recorder.wants(layer):
                return out, weights
            t, s = query.shape[-2], key.shape[-2]
            if weights is not None and tuple(weights.shape[-2:]) == (t, s):
                recorder.record_weights(layer, weights, num_kv_heads=key.shape[1], head_dim=query.shape[-1])
                return out, weights
            scaling = kwargs.get("scaling")
            if scaling is None:
                scaling = getattr(module, "scaling", query.shape[-1] ** -0.5)
            is_causal = kwargs.get("is_causal")
            if is_causal is None:
                is_causal = getattr(module, "is_causal", True)
            probs = recorder.record_qk(
                layer, query, key, attention_mask, scaling=scaling, is_causal=is_causal,
                softcap=kwargs.get("softcap"),
            )
            if probs is not None and query.shape[0] == 1 and recorder.heads is None:
                weights = probs  # makes output_attentions=True return them, even with sdpa
            return out, weights

        return sinkvis_attention

    def remove(self) -> None:
        """Restore every config's attention implementation and unregister the names (idempotent)."""
        if self._installed and self._top is not None:
            try:
                self.model.set_attn_implementation(self._top)
            finally:
                for config, impl in self._saved.values():
                    if config._attn_implementation != impl:
                        config._attn_implementation_internal = impl
                self._installed = False
        self._unregister()

    def _unregister(self) -> None:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface

        AttentionInterface._global_mapping.pop(self.name, None)
        AttentionMaskInterface._global_mapping.pop(self.name, None)
