"""The optional NumPy accelerator (numba): Adam's fused step equals the Array API
reference exactly, and switches off."""
import os
import subprocess
import sys

import numpy as np
import pytest

import anynet
from anynet._accelerate import adam_apply
from anynet.optimizers import SGD, Adam, AdamW

pytest.importorskip("numba")
NUMPY = anynet.resolve_backend("numpy")


def _state(dtype, seed=0):
    rng = np.random.default_rng(seed)
    shapes = {"W1": (5, 4), "b1": (1, 4), "W2": (4, 3), "b2": (1, 3)}
    params = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    state = {"m": {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()},
             "v": {k: rng.random(s).astype(dtype) for k, s in shapes.items()}}
    grads = {"d" + k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    return params, state, grads


def _copy(tree):
    return {k: _copy(v) if isinstance(v, dict) else v.copy() for k, v in tree.items()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("make", [lambda: Adam(), lambda: Adam(beta1=0.8, weight_decay=0.1),
                                  lambda: AdamW(weight_decay=0.05)])
def test_the_fused_step_equals_the_reference_bit_for_bit(make, dtype):
    optimizer = make()
    fused = adam_apply(NUMPY, optimizer, 10**6)
    assert fused is not None
    for t in (1, 2, 30):
        optimizer.t = t
        s = optimizer.scalars(0.01)
        params, state, grads = _state(dtype, seed=t)
        want = optimizer.apply(np, _copy(params), _copy(state), _copy(grads), s)
        got = fused(np, params, state, grads, s)
        for mine, theirs in zip(want, got):
            for key in mine:
                mine_arrays = mine[key] if isinstance(mine[key], dict) else {0: mine[key]}
                their_arrays = theirs[key] if isinstance(theirs[key], dict) else \
                    {0: theirs[key]}
                for k in mine_arrays:
                    np.testing.assert_array_equal(their_arrays[k], mine_arrays[k])


def test_it_applies_only_where_it_can():
    assert adam_apply(NUMPY, SGD(), 10**6) is None
    assert adam_apply(NUMPY, Adam(), 99_999) is None  # a small network: NumPy's passes
    torch_backend = pytest.importorskip("torch") and anynet.resolve_backend("torch")
    assert adam_apply(torch_backend, Adam(), 10**6) is None
    optimizer = Adam()
    optimizer.t = 1
    params, state, grads = _state(np.float64)
    params["W1"] = np.asfortranarray(params["W1"])  # not C-contiguous: the reference path
    want = optimizer.apply(np, _copy(params), _copy(state), _copy(grads),
                           optimizer.scalars(0.1))
    got = adam_apply(NUMPY, optimizer, 10**6)(np, params, state, grads, optimizer.scalars(0.1))
    np.testing.assert_array_equal(got[0]["W1"], want[0]["W1"])


@pytest.mark.parametrize("where", ["W2", "b2", "dW2", "m", "v"])
@pytest.mark.parametrize("make", [Adam, AdamW])
def test_a_later_array_not_contiguous_sends_every_parameter_the_reference_way(where, make):
    """All or nothing: an array of the last layer that is not C-contiguous (a weight
    copied as W.T, a hand-set coefs_) makes no parameter take the fused step, so none
    is updated twice; every parameter and moment equals the plain path's."""
    optimizer = make()
    optimizer.t = 3
    params, state, grads = _state(np.float64, seed=7)
    strided = lambda a: np.repeat(a, 2, axis=1)[:, ::2]  # noqa: E731 (same values)
    if where in ("m", "v"):
        state[where]["W2"] = strided(state[where]["W2"])
    elif where == "dW2":
        grads["dW2"] = strided(grads["dW2"])
    elif where == "W2":
        params["W2"] = np.ascontiguousarray(params["W2"].T).T  # a transposed copy
    else:
        params[where] = strided(params[where])
    assert not all(a.flags.c_contiguous for a in [*params.values(), *grads.values(),
                                                  *state["m"].values(), *state["v"].values()])
    s = optimizer.scalars(0.05)
    want = optimizer.apply(np, _copy(params), _copy(state), _copy(grads), s)
    got = adam_apply(NUMPY, optimizer, 10**6)(np, params, state, grads, s)
    for key in want[0]:
        np.testing.assert_array_equal(got[0][key], want[0][key])
        for name in ("m", "v"):
            np.testing.assert_array_equal(got[1][name][key], want[1][name][key])


def test_training_is_the_same_with_and_without_it():
    code = ("import numpy as np, anynet; rng = np.random.default_rng(0); "
            "X = rng.standard_normal((64, 5)); y = rng.integers(0, 3, 64); "
            "net = anynet.train(X, y, hidden=(400, 250), epochs=2, batch_size=32, "
            "backend='numpy', dtype='float64', verbose=False, optimizer='adamw'); "
            "print(repr(float(net['W1'].sum())), repr(float(net['b2'].sum())))")
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=120, env={**os.environ, "ANYNET_ACCELERATE": flag})
            for flag in ("0", "1")]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    assert runs[0].stdout == runs[1].stdout
