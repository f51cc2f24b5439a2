"""The steps as pure functions: compiled on JAX, once per configuration and batch shape,
equal to the eager path everywhere."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import anynet
from anynet import steps
from anynet.optimizers import Adam

jax = pytest.importorskip("jax")


def _blobs(n=50, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, size=n)
    return rng.standard_normal((n, 4)) + np.eye(3, 4)[y], y


def _train(X, y, **kw):
    return anynet.train(X, y, hidden=(8, 6), epochs=4, batch_size=16, dtype="float64",
                        verbose=False, **kw)


def test_a_second_run_compiles_nothing_and_the_step_count_never_recompiles():
    X, y = _blobs()  # 50 rows in batches of 16: a full batch shape and a partial one
    net = _train(X, y, backend="jax", optimizer=Adam(beta1=0.7), validation_split=0.2)
    step = steps.training_step(net, net.optimizer, None)
    # one program per batch shape (a full batch, the partial last one): 12 steps of
    # Adam, each with its own t and learning rate, compiled it twice
    assert step.whole._cache_size() == 2
    again = _train(X, y, backend="jax", optimizer=Adam(beta1=0.7), validation_split=0.2,
                   seed=5)
    assert steps.training_step(again, again.optimizer, None) is step  # cached
    assert step.whole._cache_size() == 2


def test_compiled_and_eager_runs_agree_with_numpy():
    X, y = _blobs()
    options = dict(optimizer="adamw", clip_norm=0.5, validation_split=0.2)
    reference = _train(X, y, backend="numpy", **options)
    compiled = _train(X, y, backend="jax", **options)
    for key, want in reference.items():
        np.testing.assert_allclose(np.asarray(compiled[key]), want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(compiled.history["val_loss"], reference.history["val_loss"],
                               rtol=1e-9)


def test_anynet_compile_0_runs_eagerly():
    code = textwrap.dedent("""
        import jax; jax.config.update("jax_enable_x64", True)
        import numpy as np, anynet
        from anynet import steps
        X, y = np.eye(4), [0, 1, 1, 0]
        net = anynet.train(X, y, epochs=2, backend="jax", dtype="float64", verbose=False)
        step = steps.training_step(net, net.optimizer, None)
        print(hasattr(step.whole, "_cache_size"), repr(float(net["W1"][0, 0])))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "ANYNET_COMPILE": "0"}, timeout=120)
    assert done.returncode == 0, done.stderr
    compiled, w_eager = done.stdout.split()
    assert compiled == "False"  # a plain Python function: nothing compiled
    net = anynet.train(np.eye(4), [0, 1, 1, 0], epochs=2, backend="jax", dtype="float64",
                       verbose=False)  # here: compiled
    assert float(w_eager) == pytest.approx(float(net["W1"][0, 0]), rel=1e-12)


def test_prediction_is_compiled_and_equals_the_forward_pass():
    X, y = _blobs()
    net = _train(X, y, backend="jax")
    predict = steps.predictor(net)
    np.testing.assert_allclose(np.asarray(net.predict(X)),
                               np.asarray(anynet.forward_propagation(net, X)[0]), rtol=1e-12)
    assert predict._cache_size() >= 1
