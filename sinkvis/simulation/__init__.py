"""KV-cache eviction policies simulated over captured attention (SPEC §6).

Tokens enter the cache one at a time: at step ``t`` token ``t`` is inserted; if the cache then holds more than
``budget`` tokens the policy evicts one (never token ``t``); then query ``t`` attends over the cached keys, its weights
renormalised over them.  Every ``simulate_*`` function returns the final keep mask (bool ``[..., T]``: the cache
after the last step) and, with ``return_occupancy=True``, also the occupancy ``[..., T, T]`` (``occupancy[..., t, j]``:
key ``j`` is cached when query ``t`` attends).

Attention policies (``lru``, ``h2o``, ``tova``, ``snapkv``) take attention with any leading dimensions and simulate
one cache per head (or per group of ``group_size`` consecutive query heads sharing a KV head), all at once in a
compiled loop.  Simulating from one full-cache capture approximates a multi-layer model: a real evicting cache changes
the attention of the layers above.

Policies are looked up by name through a registry (:func:`list_policies`, :func:`get_policy`, :func:`run_policy`);
add your own with :func:`register_policy` (protocol in :mod:`sinkvis.simulation.registry`).
"""

from sinkvis.simulation.fixed import (
    simulate_full,
    simulate_random,
    simulate_sliding_window,
    simulate_streaming_llm,
)
from sinkvis.simulation.registry import (
    Policy,
    get_policy,
    list_policies,
    register_policy,
    run_policy,
    unregister_policy,
)
from sinkvis.simulation.result import SimulationResult
from sinkvis.simulation.scored import simulate_h2o, simulate_lru, simulate_tova
from sinkvis.simulation.snapkv import simulate_snapkv

__all__ = [
    "simulate_full",
    "simulate_sliding_window",
    "simulate_streaming_llm",
    "simulate_lru",
    "simulate_h2o",
    "simulate_tova",
    "simulate_snapkv",
    "simulate_random",
    "register_policy",
    "unregister_policy",
    "list_policies",
    "get_policy",
    "run_policy",
    "SimulationResult",
    "Policy",
]
