"""Shared fixtures: tiny random GPT-2 / Llama models (no download) and the embedded SmolLM2."""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SAMPLE_TEXT = (
    "The attention sink is the first token of a sequence. Language models put a large share of "
    "their attention on it, whatever it says, because softmax attention must put its mass somewhere. "
    "StreamingLLM keeps these sink tokens in the cache together with a window of recent tokens, "
    "while H2O keeps the heavy hitters that received the most attention so far. "
)


def _tiny_gpt2(attn_implementation: str):
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(
        n_layer=2, n_head=4, n_embd=32, n_positions=256, vocab_size=100, attn_implementation=attn_implementation
    )
    return transformers.GPT2LMHeadModel(cfg).eval()


def _tiny_llama(attn_implementation: str):
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        hidden_size=32,
        intermediate_size=64,
        vocab_size=100,
        max_position_embeddings=512,
        attn_implementation=attn_implementation,
    )
    return transformers.LlamaForCausalLM(cfg).eval()


@pytest.fixture(params=["eager", "sdpa"])
def attn_impl(request):
    return request.param


@pytest.fixture
def tiny_gpt2(attn_impl):
    return _tiny_gpt2(attn_impl)


@pytest.fixture
def tiny_llama(attn_impl):
    return _tiny_llama(attn_impl)


@pytest.fixture
def make_tiny():
    """Factory: make_tiny("gpt2" | "llama", "eager" | "sdpa")."""

    def make(kind: str = "llama", attn_implementation: str = "sdpa"):
        return {"gpt2": _tiny_gpt2, "llama": _tiny_llama}[kind](attn_implementation)

    return make


@pytest.fixture
def tiny_ids():
    rng = np.random.default_rng(0)
    return torch.tensor(rng.integers(0, 100, size=(1, 24)), dtype=torch.long)


@pytest.fixture(scope="session")
def smollm2():
    """(model, tokenizer) of the embedded SmolLM2-135M, sdpa, loaded once per test session."""
    from sinkvis.models import load_smollm2

    return load_smollm2()


@pytest.fixture(scope="session")
def sample_text():
    return SAMPLE_TEXT
