"""Token display strings: one per position, with spaces, newlines and tabs made visible."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_VISIBLE = str.maketrans({" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"})


def visible(text: str) -> str:
    """Make whitespace visible: ``" "`` → ``␣``, newline → ``↵``, tab → ``⇥``."""
    return text.translate(_VISIBLE)


def display_tokens(input_ids: Sequence[int] | None, tokenizer: Any = None, length: int | None = None) -> list[str]:
    """Decode each id on its own for display; fall back to ``"#<id>"`` or ``"t<pos>"``."""
    if input_ids is None:
        return [f"t{i}" for i in range(length or 0)]
    ids = [int(i) for i in input_ids]
    if tokenizer is None:
        return [f"#{i}" for i in ids]
    out = []
    for i in ids:
        try:
            text = tokenizer.decode([i])
        except Exception:  # a tokenizer that cannot decode one id alone
            text = f"#{i}"
        out.append(visible(text) if text else f"#{i}")
    return out
