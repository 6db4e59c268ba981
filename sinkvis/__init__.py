"""SinkVis: see attention sinks and measure what a KV-cache eviction policy throws away.

>>> from sinkvis import SinkVis
>>> with SinkVis(model, tokenizer) as sv:          # doctest: +SKIP
...     model(**inputs)
>>> sv.analyze_attention().sink_tokens               # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from .capture import CaptureTooLargeError
from .session import NoCaptureError, SinkVis

__version__ = "0.1.0"

__all__ = [
    "AttentionFrame",
    "CaptureTooLargeError",
    "NoCaptureError",
    "SinkVis",
    "__version__",
    "register_policy",
]


def __getattr__(name: str) -> Any:
    # lazy: keep `import sinkvis` light (the analysis and simulation modules pull in numba / matplotlib)
    if name == "AttentionFrame":
        from .analysis import AttentionFrame

        return AttentionFrame
    if name == "register_policy":
        from .simulation import register_policy

        return register_policy
    raise AttributeError(f"module 'sinkvis' has no attribute {name!r}")
