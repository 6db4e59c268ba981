"""Head roles from three per-head figures, each averaged over the queries of the captured sequence.

* ``sink_mass`` — share of a head's attention that lands on the sink tokens;
* ``locality`` — share that lands within the ``local_window`` (default 8) most recent keys, the query's own
  position included;
* ``entropy`` — row entropy normalised by ``log(number of visible keys)``: 0 = one key, 1 = uniform.

Labels (thresholds are arguments of :func:`label_roles`): ``sink`` when sink mass >= 0.5 and at least the
locality; else ``local`` when locality >= 0.5; else ``diffuse`` when entropy >= 0.75; else ``mixed``.
"""

from __future__ import annotations

import numpy as np

ROLES = ("sink", "local", "diffuse", "mixed")
SINK_THRESHOLD = 0.5
LOCAL_THRESHOLD = 0.5
DIFFUSE_THRESHOLD = 0.75


def label_roles(
    sink_mass: np.ndarray,
    locality: np.ndarray,
    entropy: np.ndarray,
    *,
    sink_threshold: float = SINK_THRESHOLD,
    local_threshold: float = LOCAL_THRESHOLD,
    diffuse_threshold: float = DIFFUSE_THRESHOLD,
) -> np.ndarray:
    """Role name per head (same shape as the inputs), by the rules in the module docstring."""
    out = np.full(sink_mass.shape, "mixed", dtype=object)
    out[entropy >= diffuse_threshold] = "diffuse"
    out[locality >= local_threshold] = "local"
    out[(sink_mass >= sink_threshold) & (sink_mass >= locality)] = "sink"
    return out
