"""The policy registry: built-in policies, user policies, and :func:`run_policy` which drives them all.

Writing your own policy
-----------------------
Decorate a function with :func:`register_policy`.  It is called with keyword arguments only::

    @register_policy("keep_even", uses_attention=False, uses_sinks=False, description="even positions + current")
    def keep_even(*, seq_len, budget, sink_count, attention, group_size, **params):
        ...
        return occupancy   # bool [..., T, T]

- ``seq_len`` (int): T.  ``budget`` (int >= 1): most KV entries per row.
- ``sink_count`` (int): as passed to :func:`run_policy` (checked ``0 <= sink_count < budget`` only when the policy
  declares ``uses_sinks=True``; others receive it unchecked and may ignore it).
- ``attention``: None, or the validated attention as passed, float32/float64 numpy ``[..., H, T, T]`` (finite,
  >= 0, rows not renormalised: renormalise over the cached keys yourself).  Always given when
  ``uses_attention=True`` (unless ``attention_optional=True``).
- ``group_size`` (int): G; caches are groups of G consecutive heads of the last leading dimension.
- ``**params``: any extra keyword arguments given to :func:`run_policy`.

What it returns depends on ``returns=``:

- ``"occupancy"`` (default): bool ``[..., H // G, T, T]`` (or a single ``[T, T]``, broadcast to every cache; always
  ``[T, T]`` when no attention is given).  Checked: shape, 0/1 values, ``O[t, t]`` True, nothing above the diagonal,
  at most ``budget`` True per row.  The keep mask is the last row.
- ``"scores"``: float eviction scores ``[..., H // G, T]`` (or ``[T]``), one per token, fixed over time; SinkVis runs
  the cache step by step and, when it is over budget, evicts the cached token with the lowest score other than the
  current one (ties to the older position).  ``+inf`` protects a token.  NaN is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sinkvis.simulation._user import run_user
from sinkvis.simulation._validate import (
    as_attention,
    check_budget,
    check_group_size,
    check_sink_count,
    group_attention,
    resolve_seq_len,
)
from sinkvis.simulation.result import SimulationResult

__all__ = ["Policy", "register_policy", "unregister_policy", "list_policies", "get_policy", "run_policy"]

_RETURNS = ("occupancy", "scores")
_REGISTRY: dict[str, Policy] = {}


@dataclass(frozen=True)
class Policy:
    """A registered eviction policy.

    Attributes
    ----------
    name : str
        Registry name.
    func : callable
        The function: a public ``simulate_*`` function for built-ins, the user's function otherwise.
    uses_attention : bool
        Whether the policy reads attention weights.
    uses_sinks : bool
        Whether ``sink_count`` means something to it (then ``0 <= sink_count < budget`` is enforced).
    description : str
        One line for tables and widgets.
    attention_optional : bool
        An attention policy that also runs without attention (``lru`` falls back to ``sliding_window``).
    returns : str
        ``"occupancy"`` or ``"scores"`` (user policies, see the module docstring).
    builtin : bool
        Shipped with SinkVis.
    parameters : tuple of str
        Extra keyword parameters the policy accepts (for built-ins; user policies accept any).
    """

    name: str
    func: Callable[..., Any]
    uses_attention: bool = False
    uses_sinks: bool = False
    description: str = ""
    attention_optional: bool = False
    returns: str = "occupancy"
    builtin: bool = False
    parameters: tuple[str, ...] = ()
    _runner: Callable[..., tuple[np.ndarray, np.ndarray | None]] | None = field(default=None, repr=False)

    @property
    def needs_attention(self) -> bool:
        """True when the policy cannot run without attention."""
        return self.uses_attention and not self.attention_optional

    def __call__(self, **kwargs: Any) -> SimulationResult:
        """Shorthand for ``run_policy(self.name, **kwargs)``.

        Parameters
        ----------
        **kwargs
            Keyword arguments of :func:`run_policy` (``budget``, ``attention``, ...).

        Returns
        -------
        SimulationResult
            As :func:`run_policy`.
        """
        return run_policy(self.name, **kwargs)


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n", 1)[0].strip()


def register_policy(
    name: str,
    *,
    uses_attention: bool = False,
    uses_sinks: bool = False,
    description: str | None = None,
    attention_optional: bool = False,
    returns: str = "occupancy",
    replace: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering a user eviction policy under ``name`` (protocol: see :mod:`sinkvis.simulation.registry`).

    Parameters
    ----------
    name : str
        Registry name (non-empty).  Re-registering a user policy replaces it (so a notebook cell can be re-run);
        replacing a built-in needs ``replace=True``.
    uses_attention : bool
        The policy needs attention weights; :func:`run_policy` refuses to run it without them.
    uses_sinks : bool
        The policy uses ``sink_count``; :func:`run_policy` then checks ``0 <= sink_count < budget``.
    description : str, optional
        One line for tables and widgets; default: the first line of the function's docstring.
    attention_optional : bool
        With ``uses_attention``: the policy also runs when no attention is given (receives ``attention=None``).
    returns : {"occupancy", "scores"}
        What the function returns.
    replace : bool
        Allow replacing a built-in policy.

    Returns
    -------
    callable
        The decorator; it returns the function unchanged.
    """
    if not isinstance(name, str) or not name.strip():
        raise TypeError(f"policy name must be a non-empty string, got {name!r}")
    if returns not in _RETURNS:
        raise ValueError(f"returns must be one of {_RETURNS}, got {returns!r}")
    for flag, value in (("uses_attention", uses_attention), ("uses_sinks", uses_sinks)):
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{flag} must be True or False, got {value!r}")
    existing = _REGISTRY.get(name)
    if existing is not None and existing.builtin and not replace:
        raise ValueError(f"'{name}' is a built-in policy; pass replace=True to replace it, or choose another name")

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(func):
            raise TypeError(f"register_policy('{name}') decorates a function, got {func!r}")
        _REGISTRY[name] = Policy(
            name=name,
            func=func,
            uses_attention=bool(uses_attention),
            uses_sinks=bool(uses_sinks),
            description=description if description is not None else _first_line(func.__doc__),
            attention_optional=bool(attention_optional),
            returns=returns,
            builtin=False,
        )
        return func

    return decorator


def unregister_policy(name: str) -> None:
    """Remove a user policy from the registry.

    Parameters
    ----------
    name : str
        A policy added with :func:`register_policy`.  Built-ins cannot be removed; an unknown name is a ValueError.
    """
    policy = get_policy(name)
    if policy.builtin:
        raise ValueError(f"'{name}' is a built-in policy and cannot be unregistered")
    del _REGISTRY[name]


def list_policies() -> list[str]:
    """Registered policy names: the built-ins first, then user policies in registration order.

    Returns
    -------
    list of str
        ``full, lru, sliding_window, streaming_llm, h2o, tova, snapkv, random``, then user policies.
    """
    return list(_REGISTRY)


def get_policy(name: str) -> Policy:
    """Return the registered :class:`Policy` called ``name``.

    Parameters
    ----------
    name : str
        A registered policy name; an unknown name is a ValueError listing the valid ones.

    Returns
    -------
    Policy
        Its flags (``uses_attention``, ``uses_sinks``, ...), description and function.
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown policy {name!r}; valid policies: {', '.join(_REGISTRY)}") from None


def run_policy(
    name: str,
    *,
    budget: int,
    seq_len: int | None = None,
    attention: Any = None,
    sink_count: int = 4,
    group_size: int = 1,
    return_occupancy: bool = False,
    **params: Any,
) -> SimulationResult:
    """Simulate the policy ``name`` and return a :class:`SimulationResult`.

    Parameters
    ----------
    name : str
        A registered policy (see :func:`list_policies`).
    budget : int
        Most KV entries kept (>= 1).
    seq_len : int, optional
        Sequence length T; optional when ``attention`` is given (must agree with it).
    attention : array-like [..., T, T], optional
        Attention weights; needed by attention policies.  Policies that ignore attention use only its shape: their
        masks are broadcast to its (grouped) leading dimensions.
    sink_count : int
        Sinks for sink-using policies (``0 <= sink_count < budget``); others accept and ignore it.
    group_size : int
        Consecutive query heads of the last leading dimension sharing one cache (KV-head group).
    return_occupancy : bool
        Also compute the occupancy ``[..., T, T]``.
    **params
        Policy parameters, e.g. ``recent_window`` (h2o), ``threshold`` (lru), ``window``/``kernel`` (snapkv),
        ``seed`` (random).

    Returns
    -------
    SimulationResult
        ``keep_mask [..., T]``, ``occupancy`` (or None), ``policy``, ``budget``, ``sink_count``, ``params``.
    """
    policy = get_policy(name)
    budget = check_budget(budget)
    group_size = check_group_size(group_size)
    att = None if attention is None else as_attention(attention)
    T = resolve_seq_len(seq_len, att)
    lead: tuple[int, ...] = () if att is None else group_attention(att, group_size)[1]
    if policy.uses_sinks:
        sink_count = check_sink_count(sink_count, budget)
    if att is None and policy.needs_attention:
        raise ValueError(
            f"policy '{name}' needs captured attention weights: pass attention=[..., T, T] "
            f'(capture with SinkVis(..., mode="full"))'
        )
    if policy.builtin:
        unknown = sorted(set(params) - set(policy.parameters))
        if unknown:
            valid = ", ".join(policy.parameters) or "none"
            raise TypeError(f"policy '{name}' got unexpected parameter(s) {unknown}; its parameters: {valid}")
        assert policy._runner is not None
        keep, occ = policy._runner(T, budget, sink_count, att, group_size, lead, return_occupancy, **params)
    else:
        keep, occ = run_user(policy, T, budget, sink_count, att, group_size, lead, return_occupancy, params)
    return SimulationResult(
        keep_mask=keep,
        occupancy=occ,
        policy=name,
        budget=budget,
        sink_count=sink_count if policy.uses_sinks else None,
        params=dict(params),
    )


from sinkvis.simulation import _builtins  # noqa: E402,F401  (registers the built-in policies)
