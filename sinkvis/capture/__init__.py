"""Attention capture: transformers models (any attention implementation), ``nn.MultiheadAttention``, and a
generic hook for any module that returns attention weights. See :class:`AttentionCapture`."""

from __future__ import annotations

from .capture import AttentionCapture, available_memory_bytes
from .modules import default_weights_from
from .store import Capture, CaptureTooLargeError, LayerStats
from .tokens import display_tokens, visible

__all__ = [
    "AttentionCapture",
    "Capture",
    "CaptureTooLargeError",
    "LayerStats",
    "available_memory_bytes",
    "default_weights_from",
    "display_tokens",
    "visible",
]
