"""LayerHeadSelector: a layers x heads grid coloured by each head's sink mass."""

from __future__ import annotations

from typing import Any

import traitlets

from ._arrays import array_payload
from ._base import STATIC, SinkVisWidget, check_int
from ._source import SessionSource


class LayerHeadSelector(SinkVisWidget):
    """Pick a layer and head from a grid coloured by sink mass (click or arrow keys).

    Parameters
    ----------
    session
        A captured :class:`sinkvis.SinkVis` (or a :class:`~sinkvis_widgets._source.SessionSource`).
    layer
        Model layer index to select first (negative counts from the last captured layer; default -1).
    head
        Query head to select first (default: the first captured head).

    Attributes
    ----------
    layer, head : int
        The selection, synced with the browser.
    """

    _esm = STATIC / "selector.js"

    layers = traitlets.List(traitlets.Int(), read_only=True, help="Captured model layer indices.").tag(sync=True)
    heads = traitlets.List(traitlets.Int(), read_only=True, help="Captured query-head indices.").tag(sync=True)
    sink_mass = traitlets.Any(None, allow_none=True, read_only=True, help="float32 [L, H] payload.").tag(sync=True)
    layer = traitlets.Int(0).tag(sync=True)
    head = traitlets.Int(0).tag(sync=True)

    def __init__(self, session: Any, *, layer: int = -1, head: int | None = None, **kwargs: Any) -> None:
        source = session if isinstance(session, SessionSource) else SessionSource(session)
        self._source = source
        if isinstance(layer, int) and not isinstance(layer, bool) and layer < 0 and -layer <= len(source.layers):
            layer = source.layers[layer]
        if head is None:
            head = source.heads[0]
        super().__init__(layer=layer, head=head, **kwargs)
        self.set_trait("layers", list(source.layers))
        self.set_trait("heads", list(source.heads))
        with self._reporting("sink mass"):
            self.set_trait("sink_mass", array_payload(source.head_sink_mass(), "float32"))

    @traitlets.validate("layer")
    def _valid_layer(self, proposal: Any) -> int:
        value = check_int("layer", proposal["value"])
        try:
            return self._source.check_layer(value)
        except ValueError as err:
            raise traitlets.TraitError(str(err)) from None

    @traitlets.validate("head")
    def _valid_head(self, proposal: Any) -> int:
        value = check_int("head", proposal["value"])
        try:
            return self._source.check_head(value)
        except ValueError as err:
            raise traitlets.TraitError(str(err)) from None
