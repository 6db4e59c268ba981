"""The policy registry: built-ins, run_policy, SimulationResult, user policies through register_policy."""

from __future__ import annotations

import numpy as np
import pytest

from sinkvis.simulation import (
    Policy,
    SimulationResult,
    get_policy,
    list_policies,
    register_policy,
    run_policy,
    simulate_h2o,
    simulate_random,
    simulate_sliding_window,
    simulate_streaming_llm,
    unregister_policy,
)

BUILTINS = ["full", "lru", "sliding_window", "streaming_llm", "h2o", "tova", "snapkv", "random"]


def causal_random(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    att = np.tril(np.random.default_rng(seed).random(shape))
    return att / att.sum(-1, keepdims=True)


@pytest.fixture
def registered():
    """Names registered by a test, unregistered afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        if name in list_policies():
            unregister_policy(name)


def test_builtins_listed_first_in_order():
    assert list_policies()[: len(BUILTINS)] == BUILTINS
    for name in BUILTINS:
        policy = get_policy(name)
        assert isinstance(policy, Policy) and policy.builtin and policy.name == name and policy.description
    assert get_policy("streaming_llm").uses_sinks and not get_policy("h2o").uses_sinks
    assert [n for n in BUILTINS if get_policy(n).uses_attention] == ["lru", "h2o", "tova", "snapkv"]
    assert not get_policy("lru").needs_attention and get_policy("h2o").needs_attention


def test_unknown_policy_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown policy 'foo'; valid policies: full, lru, sliding_window, "):
        get_policy("foo")
    with pytest.raises(ValueError, match=r"unknown policy 'nope'.*streaming_llm, h2o, tova, snapkv, random"):
        run_policy("nope", budget=3, seq_len=10)


def test_run_policy_matches_the_functions():
    res = run_policy("streaming_llm", budget=20, seq_len=100, sink_count=4, return_occupancy=True)
    assert isinstance(res, SimulationResult)
    keep, occ = simulate_streaming_llm(100, 20, 4, return_occupancy=True)
    np.testing.assert_array_equal(res.keep_mask, keep)
    np.testing.assert_array_equal(res.occupancy, occ)
    assert (res.policy, res.budget, res.sink_count, res.seq_len, res.num_kept) == ("streaming_llm", 20, 4, 100, 20)
    res = run_policy("sliding_window", budget=5, seq_len=9, sink_count=4)
    assert res.occupancy is None and res.sink_count is None  # sinks silently accepted, not used
    np.testing.assert_array_equal(res.keep_mask, simulate_sliding_window(9, 5))
    att = causal_random((2, 4, 12, 12))
    res = run_policy("h2o", budget=5, attention=att, group_size=2, recent_window=1)
    np.testing.assert_array_equal(res.keep_mask, simulate_h2o(budget=5, attention=att, group_size=2, recent_window=1))
    assert res.params == {"recent_window": 1}
    assert get_policy("h2o")(budget=5, attention=att).keep_mask.shape == (2, 4, 12)


def test_sink_count_passed_to_every_policy_in_a_sweep():
    att = causal_random((3, 10, 10))
    for name in BUILTINS:
        res = run_policy(name, budget=6, attention=att, sink_count=4, return_occupancy=True)
        assert res.keep_mask.shape == (3, 10) and res.occupancy.shape == (3, 10, 10)
        assert res.keep_mask.dtype == bool and res.occupancy.dtype == bool
        if name == "full":
            assert res.keep_mask.all()
        else:
            assert (res.keep_mask.sum(-1) == 6).all()


def test_policies_without_attention_broadcast_over_heads():
    att = causal_random((2, 6, 8, 8))
    res = run_policy("streaming_llm", budget=4, attention=att, sink_count=1, group_size=3, return_occupancy=True)
    assert res.keep_mask.shape == (2, 2, 8) and res.occupancy.shape == (2, 2, 8, 8)
    assert (res.keep_mask == simulate_streaming_llm(8, 4, 1)).all()
    res = run_policy("random", budget=4, attention=att, seed=1)
    np.testing.assert_array_equal(res.keep_mask, simulate_random(8, 4, seed=1, shape=(2, 6)))


def test_lru_without_attention_runs_as_sliding_window():
    res = run_policy("lru", budget=3, seq_len=7, return_occupancy=True)
    np.testing.assert_array_equal(res.occupancy, simulate_sliding_window(7, 3, return_occupancy=True)[1])


@pytest.mark.parametrize("name", ["h2o", "tova", "snapkv"])
def test_attention_policies_need_attention(name):
    with pytest.raises(ValueError, match=rf"policy '{name}' needs captured attention.*mode=\"full\""):
        run_policy(name, budget=3, seq_len=10)


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"name": "sliding_window", "budget": 0, "seq_len": 5}, ValueError, r"budget must be >= 1"),
        ({"name": "full", "budget": 1.5, "seq_len": 5}, TypeError, r"budget must be an integer"),
        ({"name": "streaming_llm", "budget": 4, "seq_len": 9, "sink_count": 5}, ValueError, r"sink_count must be"),
        ({"name": "sliding_window", "budget": 4}, TypeError, r"give seq_len"),
        ({"name": "h2o", "budget": 4, "seq_len": 9, "attention": np.eye(8)}, ValueError, r"seq_len=9 does not match"),
        ({"name": "h2o", "budget": 4, "attention": np.eye(8), "bogus": 1}, TypeError, r"unexpected parameter.*bogus"),
        ({"name": "h2o", "budget": 4, "attention": np.ones((3, 5, 5)), "group_size": 2}, ValueError, "divisible"),
        ({"name": "sliding_window", "budget": 4, "seq_len": 8, "group_size": 0}, ValueError, r"group_size must be"),
        ({"name": "h2o", "budget": 4, "attention": np.full((5, 5), np.nan)}, ValueError, r"NaN or inf"),
    ],
)
def test_run_policy_bad_input(kwargs, exc, match):
    name = kwargs.pop("name")
    with pytest.raises(exc, match=match):
        run_policy(name, **kwargs)


# ------------------------------------------------------------------------------------------------ user policies


def test_user_occupancy_policy_round_trip(registered):
    seen = {}

    @register_policy("keep_first_and_last", uses_sinks=True, description="sinks plus the current token")
    def keep_first_and_last(*, seq_len, budget, sink_count, attention, group_size, **params):
        seen.update(seq_len=seq_len, budget=budget, sink_count=sink_count, attention=attention, params=params)
        occ = np.zeros((seq_len, seq_len), dtype=bool)
        for t in range(seq_len):
            occ[t, : min(sink_count, t)] = True
            occ[t, t] = True
        return occ

    registered.append("keep_first_and_last")
    assert keep_first_and_last is not None  # the decorator returns the function
    assert list_policies()[-1] == "keep_first_and_last"
    assert list_policies()[: len(BUILTINS)] == BUILTINS
    policy = get_policy("keep_first_and_last")
    assert policy.uses_sinks and not policy.uses_attention and not policy.builtin
    assert policy.description == "sinks plus the current token"
    res = run_policy("keep_first_and_last", budget=5, seq_len=8, sink_count=2, return_occupancy=True, alpha=3)
    assert seen == {"seq_len": 8, "budget": 5, "sink_count": 2, "attention": None, "params": {"alpha": 3}}
    assert res.keep_mask.tolist() == [True, True] + [False] * 5 + [True]
    assert res.occupancy.shape == (8, 8) and res.sink_count == 2
    # sink-count checks apply because the policy declared uses_sinks
    with pytest.raises(ValueError, match=r"sink_count must be smaller than budget"):
        run_policy("keep_first_and_last", budget=3, seq_len=8, sink_count=3)
    # a [T, T] answer is broadcast to the caches when attention has leading dims
    res = run_policy("keep_first_and_last", budget=5, attention=causal_random((3, 8, 8)), sink_count=2)
    assert res.keep_mask.shape == (3, 8) and seen["attention"] is None  # not an attention policy
    unregister_policy("keep_first_and_last")
    assert "keep_first_and_last" not in list_policies()
    with pytest.raises(ValueError, match=r"unknown policy 'keep_first_and_last'"):
        run_policy("keep_first_and_last", budget=3, seq_len=8)


def test_user_attention_policy_gets_attention_and_groups(registered):
    @register_policy("oracle_last_row", uses_attention=True)
    def oracle_last_row(*, seq_len, budget, sink_count, attention, group_size, **params):
        """Keep the keys the last query attends to most (per group)."""
        lead = attention.shape[:-3]
        H = attention.shape[-3]
        grouped = attention.reshape(*lead, H // group_size, group_size, seq_len, seq_len).sum(-3)
        best = np.argsort(grouped[..., -1, :], axis=-1, kind="stable")[..., ::-1][..., : budget - 1]
        occ = np.zeros((*grouped.shape[:-2], seq_len, seq_len), dtype=bool)
        for t in range(seq_len):
            chosen = np.zeros((*grouped.shape[:-2], seq_len), dtype=bool)
            np.put_along_axis(chosen, best, True, axis=-1)
            occ[..., t, :] = chosen & (np.arange(seq_len) < t)
            occ[..., t, t] = True
        return occ

    registered.append("oracle_last_row")
    assert get_policy("oracle_last_row").description == "Keep the keys the last query attends to most (per group)."
    att = causal_random((2, 4, 9, 9), seed=3)
    res = run_policy("oracle_last_row", budget=3, attention=att, group_size=2, return_occupancy=True)
    assert res.keep_mask.shape == (2, 2, 9) and res.occupancy.shape == (2, 2, 9, 9)
    assert res.keep_mask[..., -1].all()
    with pytest.raises(ValueError, match=r"policy 'oracle_last_row' needs captured attention"):
        run_policy("oracle_last_row", budget=3, seq_len=9)
    bad = att.copy()
    bad[0, 0, 3, 1] = -1.0
    with pytest.raises(ValueError, match=r"negative values"):
        run_policy("oracle_last_row", budget=3, attention=bad)


def test_user_scores_policy(registered):
    @register_policy("older_first", returns="scores", description="evict by a fixed score")
    def older_first(*, seq_len, budget, sink_count, attention, group_size, **params):
        scores = np.arange(seq_len, dtype=float)
        scores[0] = np.inf  # protect token 0
        return scores

    registered.append("older_first")
    res = run_policy("older_first", budget=4, seq_len=10, return_occupancy=True)
    keep, occ = simulate_streaming_llm(10, 4, 1, return_occupancy=True)
    np.testing.assert_array_equal(res.keep_mask, keep)
    np.testing.assert_array_equal(res.occupancy, occ)
    res = run_policy("older_first", budget=4, attention=causal_random((2, 3, 10, 10)), group_size=3)
    assert res.keep_mask.shape == (2, 1, 10) and (res.keep_mask == keep).all()


def _returning(value):
    def policy(*, seq_len, budget, sink_count, attention, group_size, **params):
        return value(seq_len) if callable(value) else value

    return policy


@pytest.mark.parametrize(
    ("value", "exc", "match"),
    [
        (None, TypeError, r"returned None"),
        (lambda T: np.tri(T + 1, dtype=bool), ValueError, r"returned an array of shape \(7, 7\); expected occupancy"),
        (lambda T: np.tri(T, dtype=bool)[:, :3], ValueError, r"expected occupancy of shape \(6, 6\)"),
        (lambda T: np.tri(T) * 0.5, TypeError, r"must return a bool occupancy"),
        (lambda T: np.zeros((T, T), dtype=bool), ValueError, r"occupancy\[\.\.\., t, t\] False at index \(0,\)"),
        (lambda T: np.ones((T, T), dtype=bool), ValueError, r"non-causal occupancy: True at index \(0, 1\)"),
        (lambda T: np.tri(T, dtype=bool), ValueError, r"row with 4 keys at index \(3,\), more than budget=3"),
    ],
)
def test_user_policy_bad_returns_rejected(registered, value, exc, match):
    register_policy("bad_policy")(_returning(value))
    registered.append("bad_policy")
    with pytest.raises(exc, match=match):
        run_policy("bad_policy", budget=3, seq_len=6)


def test_user_policy_int_occupancy_accepted(registered):
    register_policy("int_window")(_returning(lambda T: simulate_sliding_window(T, 3, return_occupancy=True)[1] * 1))
    registered.append("int_window")
    keep = run_policy("int_window", budget=3, seq_len=6).keep_mask
    np.testing.assert_array_equal(keep, simulate_sliding_window(6, 3))


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (lambda T: np.zeros(T + 1), r"expected eviction scores of shape \(6,\)"),
        (lambda T: np.full(T, np.nan), r"NaN eviction scores"),
        (lambda T: np.array(["a"] * T), r"numeric eviction scores"),
    ],
)
def test_user_scores_bad_returns_rejected(registered, value, match):
    register_policy("bad_scores", returns="scores")(_returning(value))
    registered.append("bad_scores")
    with pytest.raises((ValueError, TypeError), match=match):
        run_policy("bad_scores", budget=3, seq_len=6)


def test_register_policy_rules(registered):
    with pytest.raises(ValueError, match=r"'h2o' is a built-in policy; pass replace=True"):
        register_policy("h2o")
    with pytest.raises(ValueError, match=r"built-in policy and cannot be unregistered"):
        unregister_policy("lru")
    with pytest.raises(TypeError, match=r"non-empty string"):
        register_policy("")
    with pytest.raises(ValueError, match=r"returns must be one of"):
        register_policy("x", returns="mask")
    with pytest.raises(TypeError, match=r"uses_attention must be True or False"):
        register_policy("x", uses_attention="yes")
    with pytest.raises(ValueError, match=r"unknown policy 'never_registered'"):
        unregister_policy("never_registered")
    # re-registering a user policy replaces it (re-running a notebook cell)
    register_policy("twice", description="first")(_returning(lambda T: np.eye(T, dtype=bool)))
    register_policy("twice", description="second")(_returning(lambda T: np.eye(T, dtype=bool)))
    registered.append("twice")
    assert get_policy("twice").description == "second" and list_policies().count("twice") == 1
