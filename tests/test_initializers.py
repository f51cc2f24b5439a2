"""Initialisers: the tutorial's stream, the documented distributions, no global state."""
import numpy as np
import pytest

from anynet.initializers import INITIALIZERS, initial_weights


def test_randn_is_the_tutorials_stream():
    rng = np.random.RandomState(42)  # what np.random.seed(42) sets up
    want = [rng.randn(3, 4), rng.randn(4, 2)]
    for got, w in zip(initial_weights("randn", [3, 4, 2], 42), want):
        np.testing.assert_array_equal(got, w)


@pytest.mark.parametrize("init", list(INITIALIZERS))
def test_global_random_state_is_untouched(init):
    np.random.seed(123)
    expected = np.random.RandomState(123).rand()
    initial_weights(init, [5, 5, 5], 0)
    assert np.random.rand() == expected


@pytest.mark.parametrize("init", list(INITIALIZERS))
def test_same_seed_same_weights(init):
    a, b, c = (initial_weights(init, [6, 7, 3], s) for s in (1, 1, 2))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_distributions():
    n_in, n_out = 400, 300
    (xavier,) = initial_weights("xavier", [n_in, n_out], 0)
    limit = np.sqrt(6.0 / (n_in + n_out))
    assert np.abs(xavier).max() <= limit and np.abs(xavier).max() > 0.99 * limit
    assert xavier.std() == pytest.approx(limit / np.sqrt(3), rel=0.02)
    (he,) = initial_weights("he", [n_in, n_out], 0)
    assert he.std() == pytest.approx(np.sqrt(2.0 / n_in), rel=0.02)
    assert abs(he.mean()) < 0.01
