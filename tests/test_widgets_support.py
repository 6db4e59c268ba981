"""Helpers for the widget tests (no tests here): the exact messages a browser sends, decoding payloads."""

from __future__ import annotations

from typing import Any

import numpy as np

from sinkvis_widgets._arrays import payload_to_array


def browser_update(widget: Any, **state: Any) -> None:
    """Send ``state`` to ``widget`` exactly as the browser's widget manager does."""
    widget._handle_msg(
        {"content": {"data": {"method": "update", "state": state, "buffer_paths": []}}, "buffers": []}
    )


def browser_command(widget: Any, name: str, msg: Any) -> tuple[dict, list]:
    """Invoke an anywidget command as the browser's ``experimental.invoke`` does; return the reply."""
    replies: list[tuple[dict, list]] = []
    widget.send = lambda content, buffers=None: replies.append((content, list(buffers or [])))
    try:
        widget._handle_msg(
            {
                "content": {
                    "data": {
                        "method": "custom",
                        "content": {"id": "req-1", "kind": "anywidget-command", "name": name, "msg": msg},
                    }
                },
                "buffers": [],
            }
        )
    finally:
        del widget.send
    assert len(replies) == 1, replies
    content, buffers = replies[0]
    assert content["id"] == "req-1" and content["kind"] == "anywidget-command-response"
    return content["response"], buffers


def sent_messages(widget: Any) -> list[dict]:
    """Record the messages the widget sends to the browser from now on (returns the live list)."""
    log: list[dict] = []
    original = widget._send

    def record(msg: dict, buffers: Any = None) -> None:
        log.append(msg)
        original(msg, buffers=buffers)

    widget._send = record
    return log


def decode(payload: dict | None) -> np.ndarray | None:
    """A binary payload as it would be rebuilt in the browser (from its raw bytes)."""
    if payload is None:
        return None
    raw = bytes(memoryview(payload["view"]))
    return payload_to_array({"view": raw, "dtype": payload["dtype"], "shape": payload["shape"]})
