"""Capture through forward hooks: ``torch.nn.MultiheadAttention`` and a generic hook for any attention module.

The generic hook
----------------
Any module whose forward returns attention weights can be captured::

    with SinkVis(model, attention_modules=[blk.attn for blk in model.blocks],
                 weights_from=lambda module, args, kwargs, output: output[1]) as sv:
        model(x)

``attention_modules`` is a list of modules (their order gives the layer index) or a dict
``{layer_index: module}``. ``weights_from(module, args, kwargs, output)`` returns the weights as
``[B, H, T, S]``, ``[H, T, S]`` or ``[T, S]``; by default it takes ``output[1]`` when the output is a tuple.
The hooks only read; they are removed on exit, also when the block raises.

``nn.MultiheadAttention`` modules are found automatically. Their own forward is left untouched (its output is
bit for bit unchanged); the hook recomputes the per-head weights with ``need_weights=True,
average_attn_weights=False`` beside it, which costs one more attention computation per layer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from .recorder import Recorder

WeightsFn = Callable[[torch.nn.Module, tuple, dict, Any], torch.Tensor | None]


def default_weights_from(module: torch.nn.Module, args: tuple, kwargs: dict, output: Any) -> torch.Tensor | None:
    """Take ``output[1]`` of a tuple output (the convention of attention modules that return weights)."""
    if isinstance(output, (tuple, list)) and len(output) > 1 and isinstance(output[1], torch.Tensor):
        return output[1]
    return None


def _mha_weights(module: torch.nn.MultiheadAttention, args: tuple, kwargs: dict, output: Any) -> torch.Tensor:
    kw = dict(kwargs)
    kw.update(need_weights=True, average_attn_weights=False)
    with torch.no_grad():
        _, weights = torch.nn.MultiheadAttention.forward(module, *args, **kw)
    if weights.dim() == 3:  # unbatched input: [H, T, S]
        weights = weights[None]
    return weights


def find_mha(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The ``nn.MultiheadAttention`` modules of a model, in registration order."""
    return [m for m in model.modules() if isinstance(m, torch.nn.MultiheadAttention)]


class ModuleHooks:
    """Forward hooks on attention modules that pass their weights to a :class:`Recorder`."""

    def __init__(
        self,
        modules: Sequence[torch.nn.Module] | dict[int, torch.nn.Module],
        recorder: Recorder,
        weights_from: WeightsFn | None = None,
    ) -> None:
        if isinstance(modules, dict):
            self.modules = dict(modules)
        else:
            self.modules = dict(enumerate(modules))
        for layer, m in self.modules.items():
            if not isinstance(m, torch.nn.Module):
                raise TypeError(f"attention_modules[{layer}] is a {type(m).__name__}, not a torch.nn.Module")
        self.recorder = recorder
        self.weights_from = weights_from
        self._handles: list[Any] = []

    def install(self) -> None:
        for layer, module in self.modules.items():
            self._handles.append(module.register_forward_hook(self._hook(layer), with_kwargs=True))

    def _hook(self, layer: int) -> Callable:
        def hook(module, args, kwargs, output):
            if not self.recorder.wants(layer):
                return None
            if self.weights_from is not None:
                weights = self.weights_from(module, args, kwargs, output)
            elif isinstance(module, torch.nn.MultiheadAttention):
                weights = _mha_weights(module, args, kwargs, output)
            else:
                weights = default_weights_from(module, args, kwargs, output)
            if weights is None:
                raise ValueError(
                    f"attention module of layer {layer} ({type(module).__name__}) returned no attention weights; "
                    "pass weights_from=callable(module, args, kwargs, output) that returns them"
                )
            self.recorder.record_weights(layer, weights)
            return None

        return hook

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
