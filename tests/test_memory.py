"""Memory figures: KV-cache arithmetic, process memory, and the CUDA path (mocked: no GPU here)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sinkvis import memory
from sinkvis.memory import kv_cache_bytes, memory_stats


def test_kv_cache_bytes_formula():
    # SmolLM2-135M: 30 layers, 3 KV heads, head dim 64, float32, 2048 tokens
    assert kv_cache_bytes(30, 3, 64, 2048, 4) == 2 * 30 * 3 * 64 * 2048 * 4 == 94_371_840
    assert kv_cache_bytes(30, 3, 64, 0, 2) == 0
    with pytest.raises(ValueError, match="tokens must be >= 0"):
        kv_cache_bytes(30, 3, 64, -1, 2)


def test_budget_larger_than_sequence_saves_nothing():
    model = torch.nn.Linear(2, 2)
    stats = memory_stats(model=model, num_layers=2, num_kv_heads=1, head_dim=4, seq_len=10, capture_bytes=0,
                         budget=50)
    assert stats["kv_cache_bytes_budget"] == stats["kv_cache_bytes_full"]
    assert stats["kv_cache_saving_ratio"] == 0.0
    with pytest.raises(ValueError, match="budget must be an integer >= 1"):
        memory_stats(model=model, num_layers=2, num_kv_heads=1, head_dim=4, seq_len=10, capture_bytes=0,
                     budget=2.5)


def test_process_memory_grows_with_an_allocation():
    before = memory.process_memory()["process_rss_bytes"]
    block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
    after = memory.process_memory()
    assert after["process_rss_bytes"] - before > 48 * 2**20
    assert after["process_peak_rss_bytes"] >= after["process_rss_bytes"]
    del block


def test_cuda_figures_reported_on_a_cuda_model(monkeypatch):
    calls = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda d: calls.setdefault("alloc", 111))
    monkeypatch.setattr(torch.cuda, "memory_reserved", lambda d: 222)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda d: 333)

    class Props:
        total_memory = 444

    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda d: Props)
    out = memory.cuda_memory(torch.device("cuda", 0))
    assert out == {"cuda_allocated_bytes": 111, "cuda_reserved_bytes": 222, "cuda_peak_bytes": 333,
                   "cuda_total_bytes": 444}
    assert memory.cuda_memory(torch.device("cpu")) == {}
