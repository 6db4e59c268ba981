"""What an eviction policy really costs: attention recall, and the real model under an evicting cache.

``attention_recall`` scores occupancy matrices against full-cache attention; ``evaluate`` runs the model under
each (policy, budget) in one forward pass per pair and reports perplexity, KL divergence to the full cache,
top-1 agreement, attention recall and KV bytes; ``decode_with_evicting_cache`` is the slow, literal
reference (a token-by-token decode with a real evicting ``DynamicCache``) that ``evaluate`` is tested against.
"""

from __future__ import annotations

from .memory_guard import EvaluationMemoryError, estimate_bytes
from .recall import attention_recall
from .reference import ReferenceResult, decode_with_evicting_cache
from .report import EvaluationReport
from .runner import evaluate

__all__ = [
    "EvaluationMemoryError",
    "EvaluationReport",
    "ReferenceResult",
    "attention_recall",
    "decode_with_evicting_cache",
    "estimate_bytes",
    "evaluate",
]
