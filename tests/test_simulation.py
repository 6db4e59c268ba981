"""sinkvis.simulation: hand-computed cases for every rule, invariants (hypothesis), and bad input (SPEC §6, §12).

Every expected mask and occupancy below was worked out by hand from the definitions; the traces are in the comments.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sinkvis.simulation import (
    run_policy,
    simulate_full,
    simulate_h2o,
    simulate_lru,
    simulate_random,
    simulate_sliding_window,
    simulate_snapkv,
    simulate_streaming_llm,
    simulate_tova,
)


def rows(T: int, *cached: list[int]) -> np.ndarray:
    """Occupancy matrix from the list of cached positions of each row."""
    assert len(cached) == T
    occ = np.zeros((T, T), dtype=bool)
    for t, keys in enumerate(cached):
        occ[t, keys] = True
    return occ


def mask(T: int, kept: list[int]) -> np.ndarray:
    out = np.zeros(T, dtype=bool)
    out[kept] = True
    return out


def lower(*row_values: list[float]) -> np.ndarray:
    """Square attention from its lower-triangular rows (row t has t + 1 values)."""
    T = len(row_values)
    att = np.zeros((T, T))
    for t, values in enumerate(row_values):
        assert len(values) == t + 1
        att[t, : t + 1] = values
    return att


def causal_random(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    att = rng.random(shape)
    att = np.tril(att)
    return att / att.sum(-1, keepdims=True)


# ------------------------------------------------------------------------------------------------ fixed policies


def test_seed_call_forms():
    kw = simulate_streaming_llm(seq_len=100, budget=20, sink_count=4)
    pos = simulate_streaming_llm(100, 20, 4)
    assert kw.dtype == bool and kw.shape == (100,)
    np.testing.assert_array_equal(kw, pos)
    np.testing.assert_array_equal(np.flatnonzero(kw), [0, 1, 2, 3, *range(84, 100)])


def test_sliding_window_by_hand():
    keep, occ = simulate_sliding_window(6, 3, return_occupancy=True)
    np.testing.assert_array_equal(keep, mask(6, [3, 4, 5]))
    expected = rows(6, [0], [0, 1], [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5])
    np.testing.assert_array_equal(occ, expected)


def test_streaming_llm_by_hand():
    keep, occ = simulate_streaming_llm(7, 4, 1, return_occupancy=True)
    np.testing.assert_array_equal(keep, mask(7, [0, 4, 5, 6]))
    expected = rows(7, [0], [0, 1], [0, 1, 2], [0, 1, 2, 3], [0, 2, 3, 4], [0, 3, 4, 5], [0, 4, 5, 6])
    np.testing.assert_array_equal(occ, expected)


def test_streaming_llm_without_sinks_is_sliding_window():
    a = simulate_streaming_llm(30, 7, 0, return_occupancy=True)
    b = simulate_sliding_window(30, 7, return_occupancy=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_full_keeps_everything_and_ignores_budget():
    keep, occ = simulate_full(5, 2, return_occupancy=True)
    assert keep.all() and keep.shape == (5,)
    np.testing.assert_array_equal(occ, np.tri(5, dtype=bool))
    assert simulate_full(seq_len=3).tolist() == [True] * 3


def test_budget_at_least_seq_len_keeps_everything():
    att = causal_random((2, 6, 6))
    for out in (
        simulate_sliding_window(6, 6),
        simulate_streaming_llm(6, 9, 4),
        simulate_lru(budget=6, attention=att),
        simulate_h2o(budget=7, attention=att),
        simulate_tova(budget=6, attention=att),
        simulate_snapkv(budget=6, attention=att),
        simulate_random(6, 6),
    ):
        assert out.all()


def test_random_is_seeded_and_uniform():
    a = simulate_random(40, 8, seed=3, shape=(4,))
    b = simulate_random(40, 8, seed=3, shape=(4,))
    c = simulate_random(40, 8, seed=4, shape=(4,))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.shape == (4, 40) and (a.sum(-1) == 8).all()
    assert not (a == a[0]).all()  # independent caches
    assert a[:, -1].all()  # the last token was just inserted
    # T=3, B=2: at step 2 token 0 or token 1 is evicted with probability 1/2 each
    many = simulate_random(3, 2, seed=0, shape=(4000,))
    share = many[:, 0].mean()
    assert 0.45 < share < 0.55
    assert (many[:, 0] ^ many[:, 1]).all() and many[:, 2].all()


# ------------------------------------------------------------------------------------------------ h2o


H2O_RENORM = lower(
    [1.0],
    [0.9, 0.1],
    [0.9, 0.05, 0.05],
    [0.2, 0.02, 0.68, 0.1],
    [0.5, 0.1, 0.1, 0.1, 0.2],
    [1 / 6] * 6,
)


def test_h2o_by_hand_renormalisation_matters():
    # B=3, R=1.  scores after q0..q2: s0=2.8, s1=.15, s2=.05.
    # step 3: evict 2 (lowest).  q3 over {0,1,3}: mass .32 -> w = .625, .0625, .3125 -> s1=.2125, s3=.3125.
    # step 4: candidates {0,1,3}: evict 1 (.2125 < .3125).  Raw (not renormalised) weights would give
    #         s1=.17 > s3=.1 and evict 3 instead.  q4 over {0,3,4}: mass .8 -> w0=.625, w3=.125, w4=.25.
    # step 5: candidates {0,3,4}: s3=.4375, s4=.25 -> evict 4.
    keep, occ = simulate_h2o(budget=3, attention=H2O_RENORM, recent_window=1, return_occupancy=True)
    np.testing.assert_array_equal(keep, mask(6, [0, 3, 5]))
    expected = rows(6, [0], [0, 1], [0, 1, 2], [0, 1, 3], [0, 3, 4], [0, 3, 5])
    np.testing.assert_array_equal(occ, expected)
    # scaling a query row changes nothing (weights are renormalised over the cache)
    scaled = H2O_RENORM * np.array([1, 7, 0.5, 3, 11, 2])[:, None]
    np.testing.assert_array_equal(simulate_h2o(budget=3, attention=scaled, recent_window=1), keep)


def test_h2o_recent_window_protects_low_scores():
    # B=4, R=2: candidates at step t are positions <= t-2.
    att = lower(
        [1.0],
        [0.6, 0.4],
        [0.5, 0.2, 0.3],
        [0.4, 0.1, 0.2, 0.3],
        [0.3, 0.1, 0.1, 0.2, 0.3],
        [0.3, 0.05, 0.05, 0.2, 0.2, 0.2],
        [1 / 7] * 7,
    )
    # step 4: s = {0: 2.5, 1: .7, 2: .5, 3: .3}; 3 is protected -> evict 2.
    # step 5: q4 over {0,1,3,4} (mass .9): s = {0: 2.83, 1: .81, 3: .52, 4: .33}; 4 protected -> evict 3.
    # step 6: q5 over {0,1,4,5} (mass .75): s = {0: 3.23, 1: .88, 4: .6, 5: .27}; 5 protected -> evict 4.
    keep, occ = simulate_h2o(budget=4, attention=att, recent_window=2, return_occupancy=True)
    np.testing.assert_array_equal(keep, mask(7, [0, 1, 5, 6]))
    expected = rows(
        7, [0], [0, 1], [0, 1, 2], [0, 1, 2, 3], [0, 1, 3, 4], [0, 1, 4, 5], [0, 1, 5, 6]
    )
    np.testing.assert_array_equal(occ, expected)
    # default recent window = budget // 2 = 2
    np.testing.assert_array_equal(simulate_h2o(budget=4, attention=att), keep)
    # with R=1 token 3 (score .3) is no longer protected at step 4
    assert simulate_h2o(budget=4, attention=att, recent_window=1, return_occupancy=True)[1][4].tolist() == (
        mask(7, [0, 1, 2, 4]).tolist()
    )


def test_h2o_ties_go_to_the_older_position():
    # every query puts all its mass on token 0: tokens 1.. all score exactly 0 -> ties, the older one goes.
    T = 6
    att = np.zeros((T, T))
    att[:, 0] = 1.0
    keep, occ = simulate_h2o(budget=3, attention=att, recent_window=1, return_occupancy=True)
    expected = rows(6, [0], [0, 1], [0, 1, 2], [0, 2, 3], [0, 3, 4], [0, 4, 5])
    np.testing.assert_array_equal(occ, expected)
    np.testing.assert_array_equal(keep, mask(6, [0, 4, 5]))


def test_h2o_group_sums_renormalised_weights():
    # B=3, R=1, T=4; step 3 evicts among {0,1,2}.
    head0 = lower([1.0], [0.9, 0.1], [0.1, 0.0, 0.9], [0.25] * 4)  # s = [2.0, .1, .9] -> evicts 1
    head1 = lower([1.0], [0.5, 0.5], [0.1, 0.4, 0.5], [0.25] * 4)  # s = [1.6, .9, .5] -> evicts 2
    # summed: [3.6, 1.0, 1.4] -> evicts 1.  Head 1 scaled x10: summing raw weights would give [18, 9.1, 5.9]
    # and evict 2; renormalised weights are summed, so the scale does not matter.
    att = np.stack([head0, head1 * 10])
    per_head = simulate_h2o(budget=3, attention=att, recent_window=1)
    np.testing.assert_array_equal(per_head, [mask(4, [0, 2, 3]), mask(4, [0, 1, 3])])
    grouped = simulate_h2o(budget=3, attention=att, recent_window=1, group_size=2)
    assert grouped.shape == (1, 4)
    np.testing.assert_array_equal(grouped[0], mask(4, [0, 2, 3]))
    swapped = simulate_h2o(budget=3, attention=att[::-1], recent_window=1, group_size=2)
    np.testing.assert_array_equal(swapped, grouped)


def test_zero_rows_do_not_crash():
    att = causal_random((8, 8))
    att[3] = 0.0  # a padded query
    for fn in (simulate_h2o, simulate_lru, simulate_tova, simulate_snapkv):
        keep = fn(budget=3, attention=att)
        assert keep.sum() == 3 and keep[-1]
    att = np.zeros((5, 5))
    assert simulate_h2o(budget=2, attention=att).tolist() == mask(5, [3, 4]).tolist()


# ------------------------------------------------------------------------------------------------ lru


LRU_ATT = lower(
    [1.0],
    [0.5, 0.5],
    [0.5, 0.1, 0.4],
    [0.25, 0.5, 0.1, 0.15],
    [0.4, 0.1, 0.1, 0.1, 0.3],
    [1 / 6] * 6,
)


def test_lru_by_hand_default_threshold_and_renormalisation():
    # B=3, tau = 1/|cache|.  last use (lu): q0 uses 0; q1 (tau 1/2) uses 0 and 1; q2 (tau 1/3) uses 0 and 2:
    #   lu = {0: 2, 1: 1, 2: 2}.  step 3: evict 1.  q3 over {0,2,3}: mass .5 -> w = .5, .2, .3 -> uses 0
    #   (raw .25 < 1/3 would not: renormalisation matters).  lu = {0: 3, 2: 2, 3: 3}.
    # step 4: evict 2 (raw weights would tie 0 and 2 at lu 2 and evict 0).  q4 over {0,3,4}: mass .8 ->
    #   w = .5, .125, .375 -> uses 0 and 4.  lu = {0: 4, 3: 3, 4: 4}.  step 5: evict 3.
    keep, occ = simulate_lru(budget=3, attention=LRU_ATT, return_occupancy=True)
    np.testing.assert_array_equal(keep, mask(6, [0, 4, 5]))
    expected = rows(6, [0], [0, 1], [0, 1, 2], [0, 2, 3], [0, 3, 4], [0, 4, 5])
    np.testing.assert_array_equal(occ, expected)


def test_lru_explicit_threshold():
    # tau = .55: q0 uses 0; q1, q2 use nothing -> lu = {0: 0, 1: 1, 2: 2}; step 3 evicts 0.
    # q3 over {1,2,3}: mass .75 -> w1 = .667 used -> lu = {1: 3, 2: 2, 3: 3}; step 4 evicts 2.
    # q4 over {1,3,4}: mass .5 -> w4 = .6 used; lu = {1: 3, 3: 3, 4: 4}; step 5: 1 and 3 tie -> evict 1.
    keep, occ = simulate_lru(budget=3, attention=LRU_ATT, threshold=0.55, return_occupancy=True)
    np.testing.assert_array_equal(keep, mask(6, [3, 4, 5]))
    expected = rows(6, [0], [0, 1], [0, 1, 2], [1, 2, 3], [1, 3, 4], [3, 4, 5])
    np.testing.assert_array_equal(occ, expected)
    # threshold 0: every cached token is used at every step -> ties everywhere -> oldest goes = sliding window
    np.testing.assert_array_equal(
        simulate_lru(budget=3, attention=LRU_ATT, threshold=0.0, return_occupancy=True)[1],
        simulate_sliding_window(6, 3, return_occupancy=True)[1],
    )


def test_lru_uniform_rows_count_as_used():
    # exactly uniform rows sit on the threshold 1/|cache|: every token is used every step, so the oldest goes
    T = 9
    att = np.tril(np.ones((T, T), dtype=np.float32))
    att /= att.sum(-1, keepdims=True)
    np.testing.assert_array_equal(simulate_lru(budget=4, attention=att), simulate_sliding_window(T, 4))
    att[:, 0] *= 1.5  # token 0 is above uniform for every query: LRU keeps it
    assert simulate_lru(budget=4, attention=att).tolist() == mask(T, [0, 6, 7, 8]).tolist()


def test_lru_group_uses_the_mean_weight():
    # T=4, B=3.  q1 (tau 1/2): both heads [.5, .5] -> 0 and 1 used.  q2 (tau 1/3):
    #   head0 [.5, .4, .1], head1 [.3, .1, .6] -> mean [.4, .25, .35]: 0 used, 1 not.  lu = {0: 2, 1: 1, 2: 2}.
    # step 3 evicts 1.  ("used by any head" would tie 0 and 1 at 2 and evict 0; "by all heads" ties them at 1.)
    head0 = lower([1.0], [0.5, 0.5], [0.5, 0.4, 0.1], [0.25] * 4)
    head1 = lower([1.0], [0.5, 0.5], [0.3, 0.1, 0.6], [0.25] * 4)
    att = np.stack([head0, head1])
    np.testing.assert_array_equal(simulate_lru(budget=3, attention=att, group_size=2)[0], mask(4, [0, 2, 3]))
    np.testing.assert_array_equal(
        simulate_lru(budget=3, attention=att), [mask(4, [1, 2, 3]), mask(4, [1, 2, 3])]
    )


def test_lru_without_attention_is_sliding_window():
    a = simulate_lru(seq_len=20, budget=6, return_occupancy=True)
    b = simulate_sliding_window(20, 6, return_occupancy=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


# ------------------------------------------------------------------------------------------------ tova


def test_tova_by_hand_uses_the_previous_query():
    # B=3.  step 3: q2's weights over {0,1,2} = [.5, .2, .3] -> evict 1.  (q3's own weights would evict 2.)
    # q3 over {0,2,3}: mass .4 -> [.5, .25, .25].  step 4: 2 and 3 tie at .25 -> evict the older, 2.
    # q4 over {0,3,4}: mass .8 -> [.125, .375, .5].  step 5: evict 0.
    att = lower(
        [1.0],
        [0.3, 0.7],
        [0.5, 0.2, 0.3],
        [0.2, 0.6, 0.1, 0.1],
        [0.1, 0.1, 0.1, 0.3, 0.4],
        [1 / 6] * 6,
    )
    keep, occ = simulate_tova(budget=3, attention=att, return_occupancy=True)
    np.testing.assert_array_equal(keep, mask(6, [3, 4, 5]))
    expected = rows(6, [0], [0, 1], [0, 1, 2], [0, 2, 3], [0, 3, 4], [3, 4, 5])
    np.testing.assert_array_equal(occ, expected)


def test_tova_group_uses_the_summed_weight():
    # T=4, B=2.  step 2: evict the lower of q1's group weights for 0 and 1.
    head0 = lower([1.0], [0.3, 0.7], [1 / 3] * 3, [0.25] * 4)  # alone: evicts 0
    head1 = lower([1.0], [0.8, 0.2], [1 / 3] * 3, [0.25] * 4)  # alone: evicts 1; summed [1.1, .9] -> evict 1
    # head 0 scaled x4: raw weights summed would be [2.0, 3.0] and evict 0; renormalised ones evict 1
    att = np.stack([head0 * 4.0, head1])
    keep, occ = simulate_tova(budget=2, attention=att, group_size=2, return_occupancy=True)
    assert occ[0, 2].tolist() == [True, False, True, False]
    per_head = simulate_tova(budget=2, attention=att, return_occupancy=True)[1]
    assert per_head[0, 2].tolist() == [False, True, True, False]
    assert per_head[1, 2].tolist() == [True, False, True, False]


# ------------------------------------------------------------------------------------------------ snapkv


def snapkv_attention() -> np.ndarray:
    att = causal_random((8, 8), seed=5)
    att[6] = [3, 0, 1, 0, 0, 2, 4, 0]  # rows need not sum to 1: they are renormalised
    att[7] = [2, 1, 0, 0, 3, 0, 1, 3]
    return att


def test_snapkv_by_hand():
    # W=2: prefix 0..5 scored by q6, q7 (each /10): [.5, .1, .1, 0, .3, .2] -> top-2 = {0, 4}; kept {0,4,6,7}.
    # Occupancy (evict the worst cached token when over budget, ties older): t4 evicts 3, t5 evicts 1 (1 and 2
    # tie at .1), t6 evicts 2, t7 evicts 5.
    keep, occ = simulate_snapkv(budget=4, attention=snapkv_attention(), window=2, kernel=1, return_occupancy=True)
    np.testing.assert_array_equal(keep, mask(8, [0, 4, 6, 7]))
    expected = rows(
        8, [0], [0, 1], [0, 1, 2], [0, 1, 2, 3], [0, 1, 2, 4], [0, 2, 4, 5], [0, 4, 5, 6], [0, 4, 6, 7]
    )
    np.testing.assert_array_equal(occ, expected)


def test_snapkv_pooling():
    # kernel 3, max: pooled [.5, .5, .1, .3, .3, .3] -> top-2 = {0, 1}.
    keep = simulate_snapkv(budget=4, attention=snapkv_attention(), window=2, kernel=3)
    np.testing.assert_array_equal(keep, mask(8, [0, 1, 6, 7]))
    # kernel 3, avg (zero padding counted): [.2, .233, .067, .133, .167, .167] -> top-2 = {1, 0}
    keep = simulate_snapkv(budget=4, attention=snapkv_attention(), window=2, kernel=3, pooling="avg")
    np.testing.assert_array_equal(keep, mask(8, [0, 1, 6, 7]))


def test_snapkv_default_window_and_group():
    att = causal_random((2, 4, 40, 40), seed=1)
    keep = simulate_snapkv(budget=10, attention=att)  # W = min(32, 10 // 2) = 5: the last 5 always kept
    assert keep.shape == (2, 4, 40) and keep[..., -5:].all() and (keep.sum(-1) == 10).all()
    grouped = simulate_snapkv(budget=10, attention=att, group_size=2)
    assert grouped.shape == (2, 2, 40)


# ------------------------------------------------------------------------------------------------ shapes


@pytest.mark.parametrize("fn", [simulate_lru, simulate_h2o, simulate_tova, simulate_snapkv])
def test_leading_dims_and_groups(fn):
    att = causal_random((2, 6, 10, 10), seed=2).astype(np.float32)
    keep, occ = fn(budget=4, attention=att, return_occupancy=True)
    assert keep.shape == (2, 6, 10) and occ.shape == (2, 6, 10, 10) and keep.dtype == bool
    keep3 = fn(budget=4, attention=att, group_size=3)
    assert keep3.shape == (2, 2, 10)
    # a head simulated alone gives the same as within the batch
    np.testing.assert_array_equal(fn(budget=4, attention=att[1, 4]), keep[1, 4])
    # seq_len may be given when it agrees
    np.testing.assert_array_equal(fn(10, 4, att), keep)


def test_float16_and_float32_inputs():
    att = causal_random((3, 12, 12), seed=3)
    ref = simulate_h2o(budget=5, attention=att.astype(np.float32))
    assert simulate_h2o(budget=5, attention=att.astype(np.float16)).shape == (3, 12)
    assert simulate_h2o(budget=5, attention=att.tolist()).shape == (3, 12)
    np.testing.assert_array_equal(simulate_h2o(budget=5, attention=np.asfortranarray(att.astype(np.float32))), ref)


# ------------------------------------------------------------------------------------------------ invariants


def check_invariants(keep: np.ndarray, occ: np.ndarray, T: int, B: int) -> None:
    assert keep.dtype == bool and occ.dtype == bool
    assert occ.shape[-2:] == (T, T) and keep.shape[-1] == T
    diag = np.diagonal(occ, axis1=-2, axis2=-1)
    assert diag.all(), "current token always cached"
    assert not (occ & np.triu(np.ones((T, T), dtype=bool), 1)).any(), "causal"
    counts = occ.sum(-1)
    assert (counts <= B).all(), "budget respected in every row"
    assert (counts == np.minimum(np.arange(T) + 1, B)).all(), "evicts only when over budget, one per step"
    np.testing.assert_array_equal(keep, occ[..., -1, :])
    assert (keep.sum(-1) == min(T, B)).all()
    # a token evicted never comes back: for j < t, occupancy[t, j] implies occupancy[t - 1, j]
    t, j = np.arange(1, T)[:, None], np.arange(T)[None, :]
    assert not (occ[..., 1:, :] & ~occ[..., :-1, :] & (j < t)).any(), "evicted tokens stay evicted"


POLICY_NAMES = ["full", "lru", "sliding_window", "streaming_llm", "h2o", "tova", "snapkv", "random"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    T=st.integers(1, 14),
    B=st.integers(1, 16),
    sinks=st.integers(0, 15),
    heads=st.sampled_from([(1,), (2,), (2, 2), ()]),
    seed=st.integers(0, 2**16),
    policy=st.sampled_from(POLICY_NAMES),
)
def test_invariants_all_policies(T, B, sinks, heads, seed, policy):
    sinks = min(sinks, B - 1)
    att = causal_random((*heads, T, T), seed=seed)
    if seed % 3 == 0:
        att[..., seed % T, :] = 0.0  # padded rows are allowed
    res = run_policy(policy, budget=B, attention=att, sink_count=sinks, return_occupancy=True)
    keep, occ = res.keep_mask, res.occupancy
    assert keep.shape == (*heads, T)
    if policy == "full":
        assert keep.all() and occ.sum() == np.tri(T).sum() * int(np.prod(heads))
        return
    check_invariants(keep, occ, T, B)
    if policy == "streaming_llm":
        n = min(sinks, T)
        seen = np.tri(T, dtype=bool)[:, :n]  # (t, j) with j <= t, j a sink
        assert (occ[..., :, :n] | ~seen).all(), "sinks always cached"
        assert keep[..., :n].all()


@settings(max_examples=40, deadline=None)
@given(T=st.integers(1, 30), B=st.integers(1, 32))
def test_lru_without_attention_equals_sliding_window(T, B):
    a = simulate_lru(seq_len=T, budget=B, return_occupancy=True)
    b = simulate_sliding_window(T, B, return_occupancy=True)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@settings(max_examples=40, deadline=None)
@given(T=st.integers(1, 30), B=st.integers(1, 32), S=st.integers(0, 31))
def test_streaming_llm_closed_form(T, B, S):
    S = min(S, B - 1)
    keep, occ = simulate_streaming_llm(T, B, S, return_occupancy=True)
    check_invariants(keep, occ, T, B)
    expected = [j < S or j >= T - (B - S) for j in range(T)]
    assert keep.tolist() == expected


# ------------------------------------------------------------------------------------------------ bad input


ATT = causal_random((2, 6, 6))


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: simulate_sliding_window(10, 0), ValueError, r"budget must be >= 1, got 0"),
        (lambda: simulate_sliding_window(10, -3), ValueError, r"budget must be >= 1"),
        (lambda: simulate_sliding_window(10, 2.5), TypeError, r"budget must be an integer"),
        (lambda: simulate_sliding_window(10, True), TypeError, r"budget must be an integer"),
        (lambda: simulate_sliding_window(0, 3), ValueError, r"seq_len must be >= 1"),
        (lambda: simulate_sliding_window("10", 3), TypeError, r"seq_len must be an integer"),
        (lambda: simulate_streaming_llm(10, 4, 4), ValueError, r"sink_count must be smaller than budget"),
        (lambda: simulate_streaming_llm(10, 4, 9), ValueError, r"valid: 0 <= sink_count <= 3"),
        (lambda: simulate_streaming_llm(10, 4, -1), ValueError, r"sink_count must be >= 0"),
        (lambda: simulate_h2o(budget=3), ValueError, r"needs captured attention.*mode=\"full\""),
        (lambda: simulate_tova(budget=3), ValueError, r"'tova' needs captured attention"),
        (lambda: simulate_snapkv(budget=3), ValueError, r"'snapkv' needs captured attention"),
        (lambda: simulate_h2o(attention=ATT), TypeError, r"budget is required"),
        (lambda: simulate_h2o(budget=3, attention=ATT, recent_window=3), ValueError, r"recent_window must be small"),
        (lambda: simulate_h2o(budget=3, attention=ATT, recent_window=-1), ValueError, r"recent_window must be >= 0"),
        (lambda: simulate_h2o(7, 3, ATT), ValueError, r"seq_len=7 does not match attention of shape \(2, 6, 6\)"),
        (lambda: simulate_h2o(budget=3, attention=ATT[..., :5]), ValueError, r"square in its last two"),
        (lambda: simulate_h2o(budget=3, attention=ATT[0, 0]), ValueError, r"shape \[\.\.\., T, T\]"),
        (lambda: simulate_h2o(budget=3, attention=np.zeros((2, 0, 0))), ValueError, r"attention is empty"),
        (lambda: simulate_h2o(budget=3, attention=ATT.astype(complex)), TypeError, r"real numbers"),
        (lambda: simulate_h2o(budget=3, attention=ATT, group_size=4), ValueError, r"not divisible.*\[1, 2\]"),
        (lambda: simulate_h2o(budget=3, attention=ATT, group_size=0), ValueError, r"group_size must be >= 1"),
        (lambda: simulate_h2o(budget=3, attention=ATT[0], group_size=2), ValueError, r"needs a head dimension"),
        (lambda: simulate_lru(budget=3, attention=ATT, threshold=1.5), ValueError, r"threshold must be in \[0, 1\]"),
        (lambda: simulate_lru(budget=3, attention=ATT, threshold="x"), TypeError, r"threshold must be a number"),
        (lambda: simulate_lru(budget=3), TypeError, r"give seq_len"),
        (lambda: simulate_snapkv(budget=3, attention=ATT, window=4), ValueError, r"window must not exceed budget"),
        (lambda: simulate_snapkv(budget=3, attention=ATT, kernel=4), ValueError, r"kernel must be odd"),
        (lambda: simulate_snapkv(budget=3, attention=ATT, pooling="min"), ValueError, r"pooling must be one of"),
        (lambda: simulate_random(10, 3, seed=-1), ValueError, r"seed must be >= 0"),
        (lambda: simulate_random(10, 3, shape=(2, 0)), ValueError, r"shape entries must be >= 1"),
    ],
)
def test_bad_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("fn", [simulate_lru, simulate_h2o, simulate_tova, simulate_snapkv])
@pytest.mark.parametrize(
    ("value", "match"),
    [
        (np.nan, r"NaN or inf \(first at index \(1, 4, 2\): nan\)"),
        (np.inf, r"NaN or inf \(first at index \(1, 4, 2\)"),
        (-0.5, r"negative values \(first at index \(1, 4, 2\): -0\.5\)"),
    ],
)
def test_bad_attention_values(fn, value, match):
    att = ATT.copy()
    att[1, 4, 2] = value
    with pytest.raises(ValueError, match=match):
        fn(budget=3, attention=att)
    with pytest.raises(ValueError, match=match):  # also when nothing needs evicting
        fn(budget=10, attention=att)


def test_bad_value_index_with_groups_and_above_the_diagonal():
    att = causal_random((2, 4, 6, 6))
    att[1, 3, 1, 5] = np.nan  # above the diagonal: still bad input
    with pytest.raises(ValueError, match=r"first at index \(1, 3, 1, 5\)"):
        simulate_h2o(budget=3, attention=att, group_size=2)
