"""Choose how to capture a model, install the hooks, and take them all off again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .hf import HFAttentionHook, count_layers, is_hf_model
from .modules import ModuleHooks, WeightsFn, find_mha
from .recorder import Recorder


def available_memory_bytes() -> int:
    """Memory the process may still use (psutil's ``available``)."""
    import psutil

    return int(psutil.virtual_memory().available)


class AttentionCapture:
    """Installs capture hooks on a model and removes every one of them on :meth:`remove`.

    Picks, in order: the generic hook when ``attention_modules`` is given; transformers' attention interface for
    HuggingFace models; forward hooks on ``nn.MultiheadAttention`` modules. Raises ``ValueError`` for a model
    with no recognisable attention.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        recorder_kwargs: dict[str, Any],
        *,
        attention_modules: Sequence[torch.nn.Module] | dict[int, torch.nn.Module] | None = None,
        weights_from: WeightsFn | None = None,
    ) -> None:
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"SinkVis needs a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        if attention_modules is not None:
            self.kind = "generic"
            num_layers = len(attention_modules)
            if num_layers == 0:
                raise ValueError("attention_modules is empty: pass the attention modules to capture")
        elif is_hf_model(model):
            self.kind = "transformers"
            num_layers = count_layers(model)
        else:
            mha = find_mha(model)
            if not mha:
                raise ValueError(
                    f"{type(model).__name__} has no recognisable attention: SinkVis captures transformers models, "
                    "torch.nn.MultiheadAttention, or any module that returns attention weights via "
                    "SinkVis(model, attention_modules=[...], weights_from=...)."
                )
            self.kind = "multihead_attention"
            attention_modules = mha
            num_layers = len(mha)
        self.num_layers = num_layers
        self.recorder = Recorder(num_layers=num_layers, **recorder_kwargs)
        if self.kind == "transformers":
            self._hook: Any = HFAttentionHook(model, self.recorder)
        else:
            assert attention_modules is not None
            self._hook = ModuleHooks(attention_modules, self.recorder, weights_from)
        self._handles: list[Any] = []

    def install(self) -> None:
        # attention hooks first: when the model *is* the attention module, its recording hook must run before the
        # pass is closed. A pass that raises is never closed, so a partial capture never replaces a complete one.
        try:
            self._hook.install()
            self._handles.append(self.model.register_forward_pre_hook(self._pre, with_kwargs=True))
            self._handles.append(self.model.register_forward_hook(self._post))
        except Exception:
            self.remove()
            raise

    def _pre(self, module: torch.nn.Module, args: tuple, kwargs: dict) -> None:
        ids = kwargs.get("input_ids")
        if ids is None and args and isinstance(args[0], torch.Tensor) and not args[0].is_floating_point():
            ids = args[0]
        self.recorder.begin_pass(ids)

    def _post(self, module: torch.nn.Module, args: tuple, output: Any) -> None:
        self.recorder.end_pass()

    def remove(self) -> None:
        """Remove every hook and registration (safe to call twice)."""
        try:
            self._hook.remove()
        finally:
            for h in self._handles:
                h.remove()
            self._handles.clear()
