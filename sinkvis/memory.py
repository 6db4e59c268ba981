"""KV-cache bytes, capture bytes, and process / CUDA memory figures."""

from __future__ import annotations

import resource
import sys
from typing import Any

import torch


def kv_cache_bytes(num_layers: int, num_kv_heads: int, head_dim: int, tokens: int, dtype_bytes: int) -> int:
    """Bytes of a KV cache: ``2 (K and V) x layers x KV heads x head dim x tokens x dtype bytes``."""
    for name, v in (("num_layers", num_layers), ("num_kv_heads", num_kv_heads), ("head_dim", head_dim),
                    ("tokens", tokens), ("dtype_bytes", dtype_bytes)):
        if int(v) < 0:
            raise ValueError(f"{name} must be >= 0, got {v}")
    return 2 * int(num_layers) * int(num_kv_heads) * int(head_dim) * int(tokens) * int(dtype_bytes)


def process_memory() -> dict[str, int]:
    """Resident and peak resident memory of this process, in bytes."""
    import psutil

    rss = int(psutil.Process().memory_info().rss)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak = int(peak if sys.platform == "darwin" else peak * 1024)  # Linux reports KiB, macOS bytes
    return {"process_rss_bytes": rss, "process_peak_rss_bytes": max(peak, rss)}


def cuda_memory(device: torch.device) -> dict[str, int]:
    """CUDA allocated / reserved / peak bytes on ``device`` (empty dict when not on CUDA)."""
    if device.type != "cuda" or not torch.cuda.is_available():
        return {}
    return {
        "cuda_allocated_bytes": int(torch.cuda.memory_allocated(device)),
        "cuda_reserved_bytes": int(torch.cuda.memory_reserved(device)),
        "cuda_peak_bytes": int(torch.cuda.max_memory_allocated(device)),
        "cuda_total_bytes": int(torch.cuda.get_device_properties(device).total_memory),
    }


def model_device_dtype(model: torch.nn.Module) -> tuple[torch.device, torch.dtype]:
    """Device and dtype of the model's first parameter (CPU float32 for a model without parameters)."""
    for p in model.parameters():
        return p.device, p.dtype
    return torch.device("cpu"), torch.float32


def memory_stats(
    *,
    model: torch.nn.Module,
    num_layers: int,
    num_kv_heads: int,
    head_dim: int,
    seq_len: int,
    capture_bytes: int,
    budget: int | None = None,
) -> dict[str, Any]:
    """The memory figures of SPEC §8 for a captured sequence (see :meth:`sinkvis.SinkVis.get_memory_stats`)."""
    device, dtype = model_device_dtype(model)
    dtype_bytes = torch.empty((), dtype=dtype).element_size()
    full = kv_cache_bytes(num_layers, num_kv_heads, head_dim, seq_len, dtype_bytes)
    stats: dict[str, Any] = {
        "device": str(device),
        "dtype": str(dtype).replace("torch.", ""),
        "seq_len": int(seq_len),
        "num_layers": int(num_layers),
        "num_kv_heads": int(num_kv_heads),
        "head_dim": int(head_dim),
        "kv_cache_bytes_per_token": kv_cache_bytes(num_layers, num_kv_heads, head_dim, 1, dtype_bytes),
        "kv_cache_bytes_full": full,
        "capture_bytes": int(capture_bytes),
    }
    if budget is not None:
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise ValueError(f"budget must be an integer >= 1, got {budget!r}")
        kept = min(budget, seq_len)
        stats["budget"] = int(budget)
        stats["kv_cache_bytes_budget"] = kv_cache_bytes(num_layers, num_kv_heads, head_dim, kept, dtype_bytes)
        # share of the full cache's bytes that the budget saves (0 = nothing saved, 0.9 = 90 % saved)
        stats["kv_cache_saving_ratio"] = 1.0 - kept / seq_len if seq_len else 0.0
    stats.update(process_memory())
    stats.update(cuda_memory(device))
    return stats
