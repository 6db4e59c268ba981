"""Binary payloads and pooling of the widgets (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest
from ipywidgets.widgets.widget import _remove_buffers

from sinkvis_widgets._arrays import (
    MAX_HEATMAP_BYTES,
    array_payload,
    evicted_share,
    max_pool_1d,
    max_pool_2d,
    payload_bytes,
    payload_to_array,
    pool_factor,
)
from sinkvis_widgets.heatmap import MAX_CELLS_LIMIT


def test_payload_round_trip_and_ipywidgets_lifts_it_into_a_binary_buffer():
    a = np.arange(12, dtype=np.float64).reshape(3, 4)[:, ::2]  # not contiguous, not float32
    p = array_payload(a, "float32")
    assert p["dtype"] == "float32" and p["shape"] == [3, 2]
    np.testing.assert_array_equal(payload_to_array(p), a.astype(np.float32))
    state, paths, buffers = _remove_buffers({"matrix": p})
    assert paths == [["matrix", "view"]]
    assert "view" not in state["matrix"] and state["matrix"]["shape"] == [3, 2]
    assert bytes(buffers[0]) == a.astype("<f4").tobytes()


def test_payload_of_bools_and_empty_arrays():
    p = array_payload(np.array([True, False, True]), "uint8")
    assert payload_to_array(p).tolist() == [1, 0, 1]
    assert payload_bytes(array_payload(np.zeros((0, 0)), "float32")) == 0
    assert array_payload(None) is None
    with pytest.raises(ValueError, match="unsupported dtype"):
        array_payload([1.0], "complex64")


def test_max_pool_keeps_a_single_sink_visible():
    T = 1000
    a = np.full((T, T), 1e-4, dtype=np.float32)
    a[:, 0] = 0.9  # a sink column
    a[700, 3] = np.nan  # NaN must not poison a block
    f = pool_factor(T, 128)
    pooled = max_pool_2d(a, f)
    assert f == 8 and pooled.shape == (125, 125)
    assert np.all(pooled[:, 0] == np.float32(0.9))
    assert np.all(np.isfinite(pooled))
    ragged = max_pool_2d(np.ones((10, 10), np.float32), 3)
    assert ragged.shape == (4, 4) and ragged[-1, -1] == 1


def test_evicted_share_counts_only_causal_cells():
    T = 8
    occ = np.tri(T, dtype=bool)  # everything causal is kept
    assert evicted_share(occ, 1).max() == 0
    occ[:, 0] = False  # key 0 evicted for every query
    full = evicted_share(occ, 1)
    assert full[5, 0] == 255 and full[5, 1] == 0 and full[0, 5] == 0  # future cells are not "evicted"
    pooled = evicted_share(occ, 4)
    # block (0, 0): causal cells are 10 (lower triangle of 4x4), 4 of them evicted (key 0)
    assert pooled[0, 0] == int(np.ceil(4 / 10 * 255))
    assert pooled[0, 1] == 0  # wholly in the future
    window = evicted_share(occ[4:8, 0:4], 1, q0=4, k0=0)
    assert window[:, 0].tolist() == [255] * 4


@pytest.mark.parametrize("T", [512, 4096, 20000])
def test_heatmap_payload_stays_under_one_mebibyte(T):
    f = pool_factor(T, MAX_CELLS_LIMIT)
    n = -(-T // f)
    assert n * n * 4 + n * n <= MAX_HEATMAP_BYTES


def test_max_pool_1d():
    v = np.zeros(10, np.float32)
    v[9] = 2
    assert max_pool_1d(v, 4).tolist() == [0, 0, 2]


def test_evicted_share_of_a_pooled_window_across_the_diagonal():
    T = 12
    occ = np.tri(T, dtype=bool)
    occ[:, 2] = False
    occ[2, 2] = True  # inserted at step 2, evicted right after
    window = evicted_share(occ[3:9, 0:6], 3, q0=3, k0=0)
    full = evicted_share(occ, 1)[3:9, 0:6] > 0
    causal = np.arange(6)[None, :] <= np.arange(3, 9)[:, None]
    for i in range(2):
        for j in range(2):
            block = (slice(3 * i, 3 * i + 3), slice(3 * j, 3 * j + 3))
            expected = full[block].sum() / causal[block].sum()
            assert window[i, j] == int(np.ceil(expected * 255))
