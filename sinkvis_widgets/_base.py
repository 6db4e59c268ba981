"""Base class of the SinkVis widgets: strict constructor, a visible ``error`` trait, and a guard
that refuses nonsense from the front end instead of raising into the comm."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anywidget
import traitlets

STATIC = Path(__file__).parent / "static"


class SinkVisWidget(anywidget.AnyWidget):
    """Shared behaviour of the SinkVis anywidgets.

    - Unknown constructor keywords raise ``TypeError`` (no silent typos).
    - ``error`` is shown in the widget. State sent by the front end that fails validation is refused:
      the trait keeps its last valid value, the front end is put back on it, and ``error`` says why.
      The kernel keeps running and the captured data is not touched.
    """

    _css = STATIC / "sinkvis.css"

    error = traitlets.Unicode("", help="Last error, shown in the widget ('' when none).").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        allowed = set(type(self).class_trait_names()) | {"layout", "tabbable", "tooltip"}
        unknown = sorted(k for k in kwargs if k not in allowed or k.startswith("_"))
        if unknown:
            public = sorted(n for n in type(self).class_trait_names() if not n.startswith("_"))
            raise TypeError(
                f"{type(self).__name__} got unexpected keyword argument(s) {unknown}; valid: {public}"
            )
        self._batch_depth = 0
        self._batch_dirty = False
        self._refused = ""
        super().__init__(**kwargs)

    # -- front end -> kernel ---------------------------------------------------------------------
    def set_state(self, sync_data: dict[str, Any]) -> None:
        """Apply state sent by the front end, one trait at a time, refusing invalid values.

        A value that fails validation is not applied; ``error`` reports it and the front end gets
        the current (valid) value back.
        """
        problems = []
        for name, value in sync_data.items():
            try:
                super().set_state({name: value})
            except Exception as err:  # noqa: BLE001 - nothing from the browser may raise into the comm
                problems.append(f"{name}={value!r} refused: {_short(err)}")
                with contextlib.suppress(Exception):
                    self.send_state(name)
        if problems:
            self._refused = "; ".join(problems)
            self.error = self._refused
        elif self._refused and self.error == self._refused:
            self._refused = ""
            self.error = ""

    # -- reporting ---------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _reporting(self, what: str) -> Iterator[None]:
        """Run a refresh; on failure show the error in the widget instead of raising."""
        try:
            yield
        except Exception as err:  # noqa: BLE001 - shown to the user in the widget
            self.error = f"{what}: {_short(err)}"

    @contextlib.contextmanager
    def _batch(self) -> Iterator[None]:
        """Set several traits and refresh once at the end (see :meth:`_changed`)."""
        self._batch_depth += 1
        try:
            with self.hold_sync():
                yield
        finally:
            self._batch_depth -= 1
        if self._batch_depth == 0 and self._batch_dirty:
            self._batch_dirty = False
            self._refresh()

    def _changed(self, change: Any = None) -> None:
        """Observer target: refresh now, or once at the end of a batch."""
        if self._batch_depth:
            self._batch_dirty = True
        else:
            self._refresh()

    def _refresh(self) -> None:  # pragma: no cover - overridden
        """Recompute what the widget shows from its traits."""


def _short(err: BaseException) -> str:
    msg = str(err).strip() or type(err).__name__
    return msg if len(msg) <= 400 else msg[:397] + "..."


def check_int(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """An int within bounds, or ``TraitError`` with a clear message (bools and floats refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise traitlets.TraitError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise traitlets.TraitError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise traitlets.TraitError(f"{name} must be <= {maximum}, got {value}")
    return int(value)
