"""One owner for every piece of state: the device, the optimizer, the run, the task.

Each test here tried a finding of the review that failed before its owner was
made explicit (docs: README, "Architecture").
"""
import json
import os
import pickle
import subprocess
import sys
import textwrap

import warnings

import numpy as np
import pytest

import anynet
from anynet.optimizers import Adam, Optimizer
from anynet.schedules import ReduceLROnPlateau
from conftest import blobs as _blobs, quiet as _quiet, host

cupy_like = pytest.importorskip("cupy_like")
DEVICE1 = cupy_like.Device("device1")




def _on(device, arrays):
    return all(a.device == device for a in arrays)


# --- 1. the backend owns its device ----------------------------------------------------

def test_a_run_on_a_non_default_current_device_library_stays_on_its_device(tmp_path):
    """The CuPy-like backend ignores device= in zeros/zeros_like/arange: without the
    backend making its device current, biases, optimizer state and activations
    would land on the default device and every operation mixing them would fail."""
    X, y = _blobs()
    net = _quiet(X, y, hidden=(8,), epochs=3, batch_size=16, backend=cupy_like,
                 device=DEVICE1, dtype="float64", validation_split=0.2,
                 early_stopping=True, clip_norm=1.0, checkpoint=tmp_path / "run.npz")
    reference = _quiet(X, y, hidden=(8,), epochs=3, batch_size=16, dtype="float64",
                       validation_split=0.2, early_stopping=True, clip_norm=1.0)
    assert net.device == DEVICE1 and _on(DEVICE1, net.values())
    assert all(_on(DEVICE1, arrays.values()) for arrays in net.optimizer.state.values())
    for key, want in reference.items():
        np.testing.assert_allclose(host(net[key]), want, atol=1e-10)
    assert net.score(X, y) == reference.score(X, y)
    loaded = anynet.load(tmp_path / "run.npz", backend=cupy_like, device=DEVICE1)
    assert _on(DEVICE1, loaded.values())
    assert all(_on(DEVICE1, a.values()) for a in loaded.optimizer.state.values())
    again = pickle.loads(pickle.dumps(net))
    assert again.backend.xp is cupy_like and _on(DEVICE1, again.values())
    # a warm start, a copy, the tutorial's functions: all on device1, outside any `with`
    more = anynet.train(X, y, network=net, epochs=1, verbose=False)
    assert _on(DEVICE1, more.values()) and _on(DEVICE1, more.copy().values())
    y_pred, cache = anynet.forward_propagation(net, X)
    grads = anynet.backward_propagation(net, cache, X, y)
    anynet.update_parameters(net, grads, 0.1)
    assert _on(DEVICE1, [y_pred, *grads.values(), *net.values()])


def test_the_default_device_is_the_current_one_and_a_missing_one_is_named():
    with cupy_like.Device("device2"):
        net = anynet.initialize_network([2, 3, 1], backend=cupy_like)
    assert net.device == cupy_like.Device("device2") and _on(net.device, net.values())
    assert anynet.initialize_network([2, 1], backend=cupy_like).device == \
        cupy_like.Device("CPU_DEVICE")
    with pytest.raises(ValueError, match="device='device7' is not a device of backend"):
        anynet.resolve_backend(cupy_like, "device7")
    with pytest.raises(ValueError, match="device='gpu:3' is not a device of backend 'torch'"):
        pytest.importorskip("torch")
        anynet.resolve_backend("torch", "gpu:3")


# --- 2. the run owns its optimizer -----------------------------------------------------

def test_an_optimizer_instance_is_a_template():
    X, y = _blobs()
    template = Adam(beta1=0.8)
    first = _quiet(X, y, hidden=(8,), epochs=3, optimizer=template)
    second = _quiet(X, y, hidden=(8,), epochs=3, optimizer=template)
    assert template.t == 0 and template.state == {}  # never used itself
    assert first.optimizer is not template and first.optimizer.beta1 == 0.8
    np.testing.assert_array_equal(first["W1"], second["W1"])  # no state carried over
    other = _quiet(X[:, :3], y, hidden=(5, 4), epochs=1, optimizer=template)  # other shapes
    assert other.layer_sizes == (3, 5, 4, 3)
    schedule = ReduceLROnPlateau(0.5, patience=0)
    a = _quiet(X, y, epochs=4, lr_schedule=schedule)
    b = _quiet(X, y, epochs=4, lr_schedule=schedule)
    assert a.history["lr"] == b.history["lr"] and not hasattr(schedule, "_lr")


def test_the_network_own_optimizer_continues_its_state_on_a_copy():
    X, y = _blobs()
    net = _quiet(X, y, hidden=(8,), epochs=2, batch_size=20)
    own, t = net.optimizer, net.optimizer.t
    m_before = own.state["m"]["W1"].copy()
    anynet.train(X, y, network=net, optimizer=net.optimizer, epochs=1, batch_size=20,
                 verbose=False)
    assert net.optimizer is not own and net.optimizer.t == t + 3
    np.testing.assert_array_equal(own.state["m"]["W1"], m_before)  # the old one untouched


def test_a_failed_warm_start_leaves_the_optimizer_as_it_was():
    X, y = _blobs()
    net = _quiet(X, y, hidden=(8,), epochs=2)
    own, t, m = net.optimizer, net.optimizer.t, net.optimizer.state["m"]["W1"].copy()

    def explode(epoch, history, network):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        anynet.train(X, y, network=net, optimizer=net.optimizer, epochs=2, verbose=False,
                     callbacks=[explode])
    with pytest.raises(anynet.DivergenceError):
        anynet.train(X * 1e6, y, network=net, optimizer="sgd", learning_rate=1e6,
                     epochs=3, verbose=False)
    assert net.optimizer is own and own.t == t
    np.testing.assert_array_equal(own.state["m"]["W1"], m)


def test_weight_decay_none_is_the_optimizer_default_and_zero_is_none():
    X, y = _blobs()
    default = _quiet(X, y, epochs=1, optimizer="adamw")
    none = _quiet(X, y, epochs=1, optimizer="adamw", weight_decay=0.0)
    assert default.optimizer.weight_decay == 0.01 and none.optimizer.weight_decay == 0.0
    assert _quiet(X, y, epochs=1).optimizer.weight_decay == 0.0
    assert not np.array_equal(default["W1"], none["W1"])
    template = Adam()  # an explicit weight_decay is the run's copy's, not the template's
    assert _quiet(X, y, epochs=1, optimizer=template, weight_decay=0.1).optimizer \
        .weight_decay == 0.1 and template.weight_decay == 0.0
    with pytest.raises(ValueError, match="cannot be combined with an Optimizer instance"):
        _quiet(X, y, epochs=1, optimizer=Adam(), beta1=0.5)


def test_optimizer_mistakes_are_said_before_the_data_is_read():
    X = np.ones((4, 2))
    X[0, 0] = np.nan  # the data's own error would come second
    with pytest.raises(ValueError, match="optimizer='adamm' is not known"):
        _quiet(X, [0, 1, 0, 1], optimizer="adamm")
    with pytest.raises(TypeError, match="optimizer='adam'.*momentum"):
        _quiet(X, [0, 1, 0, 1], optimizer="adam", momentum=0.9)
    with pytest.raises(TypeError, match="lr_schedule=ReduceLROnPlateau is a class"):
        _quiet(X, [0, 1, 0, 1], lr_schedule=ReduceLROnPlateau)


class Lion(Optimizer):
    """A custom optimizer (Chen et al., 2023): sign of an interpolated momentum."""

    state_names = ("m",)

    def __init__(self, beta1=0.9, beta2=0.99, weight_decay=0.0):
        super().__init__(weight_decay)
        self.beta1, self.beta2 = beta1, beta2

    def _update(self, key, p, g, s):
        m = self.state["m"][key]
        p -= s["lr"] * self.xp.sign(self.beta1 * m + (1.0 - self.beta1) * g)
        self.state["m"][key] = self.beta2 * m + (1.0 - self.beta2) * g
        return p


class Opaque(Optimizer):
    def __init__(self, rate):  # keeps no attribute named rate
        super().__init__()
        self._rate = rate

    def _update(self, key, p, g, s):
        p -= s["lr"] * self._rate * g
        return p


class Forwarding(Optimizer):
    def __init__(self, scale=1.0, **options):  # weight_decay passes through unnamed
        super().__init__(**options)
        self.scale = scale

    def _update(self, key, p, g, s):
        p -= s["lr"] * self.scale * g
        return p


def test_a_custom_optimizer_saves_checkpoints_and_resumes(tmp_path):
    X, y = _blobs()
    options = dict(hidden=(8,), epochs=4, batch_size=16, optimizer=Lion(beta1=0.8),
                   learning_rate=1e-3)
    whole = _quiet(X, y, **options)
    _quiet(X, y, **dict(options, epochs=2), checkpoint=tmp_path / "run.npz")
    resumed = _quiet(X, y, **options, checkpoint=tmp_path / "run.npz", resume=True)
    np.testing.assert_array_equal(resumed["W1"], whole["W1"])
    anynet.save(whole, tmp_path / "lion.npz", optimizer=True)
    loaded = anynet.load(tmp_path / "lion.npz")
    assert type(loaded.optimizer) is Lion and loaded.optimizer.beta1 == 0.8
    np.testing.assert_array_equal(loaded.optimizer.state["m"]["W1"],
                                  whole.optimizer.state["m"]["W1"])
    assert repr(loaded.optimizer) == "Lion(beta1=0.8, beta2=0.99, weight_decay=0.0)"


def test_a_custom_optimizer_that_cannot_be_saved_is_named(tmp_path):
    X, y = _blobs()
    net = _quiet(X, y, epochs=1, optimizer=Opaque(0.5), learning_rate=0.1)
    with pytest.raises(ValueError, match="cannot save the optimizer .*Opaque.*'rate'"):
        anynet.save(net, tmp_path / "m.npz", optimizer=True)
    assert not (tmp_path / "m.npz").exists()
    epochs = []  # refused before the first epoch, not after it
    with pytest.raises(ValueError, match="cannot save the optimizer .*Opaque"):
        _quiet(X, y, epochs=1, optimizer=Opaque(0.5), checkpoint=tmp_path / "c.npz",
               callbacks=[lambda e, h, n: epochs.append(e)])
    assert epochs == []
    with pytest.raises(ValueError, match=r"cannot save the optimizer .*Forwarding.*\*\*options"):
        anynet.save(_quiet(X, y, epochs=1, optimizer=Forwarding(0.5, weight_decay=0.1)),
                    tmp_path / "f.npz", optimizer=True)
    saved = _quiet(X, y, epochs=1, optimizer=Lion(beta1=np.float32(0.5)))
    anynet.save(saved, tmp_path / "np.npz", optimizer=True)  # NumPy's floats are numbers
    assert anynet.load(tmp_path / "np.npz").optimizer.beta1 == 0.5
    # a file naming an optimizer class that is not imported: a ValueError naming it
    anynet.save(_quiet(X, y, epochs=1, optimizer=Lion()), tmp_path / "l.npz", optimizer=True)
    path = tmp_path / "l.npz"
    with np.load(path) as f:
        arrays = dict(f)
    description = json.loads(arrays["__anynet__"].tobytes())
    description["optimizer"]["name"] = "os:system"
    arrays["__anynet__"] = np.frombuffer(json.dumps(description).encode(), dtype=np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="its optimizer is os:system, a class not imported"):
        anynet.load(path)


def test_optimizers_and_schedules_read_well():
    assert repr(Adam()) == ("Adam(beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0.0, "
                            "eps_before_correction=False)")
    assert repr(anynet.optimizers.Momentum(0.8, nesterov=True)) == \
        "Momentum(momentum=0.8, nesterov=True, weight_decay=0.0, lr_in_velocity=False)"
    assert repr(anynet.schedules.StepLR(5, 0.5)) == "StepLR(step_size=5, gamma=0.5)"
    assert repr(ReduceLROnPlateau()) == \
        "ReduceLROnPlateau(factor=0.1, patience=10, threshold=0.0001, min_lr=0.0)"


def test_a_warm_start_on_a_non_default_device_accepts_its_backend_by_name():
    X, y = _blobs()
    strict = pytest.importorskip("array_api_strict")
    for module, device in ((strict, strict.Device("device1")), (cupy_like, DEVICE1)):
        net = _quiet(X, y, epochs=1, backend=module, device=device)
        for spelling in ("array_api_strict", module, net.backend):
            more = anynet.train(X, y, network=net, backend=spelling, epochs=1, verbose=False)
            assert more.device == device
        with pytest.raises(ValueError, match="device=.*device2.*differs"):
            anynet.train(X, y, network=net, device=type(device)("device2"), epochs=1,
                         verbose=False)


def test_callbacks_see_the_working_network_whole_and_numpy_true_stops(tmp_path):
    X, y = _blobs()

    def save_and_stop(epoch, history, network):
        anynet.save(network, tmp_path / f"e{epoch}.npz", optimizer=True)
        return np.bool_(epoch == 1)

    net = _quiet(X, y, epochs=5, callbacks=[save_and_stop])
    assert len(net.history["loss"]) == 2 and net.history["stopped"] == "callback"
    assert anynet.load(tmp_path / "e1.npz").optimizer.t == net.optimizer.t


def test_copies_pickles_and_warnings():
    X, y = _blobs()
    net = _quiet(X, y, epochs=2)
    twin = net.copy()  # deep: history, metadata and optimizer state too
    twin.history["loss"].append(0.0)
    twin.optimizer.state["m"]["W1"] += 1.0
    assert len(net.history["loss"]) == 2
    assert not np.array_equal(twin.optimizer.state["m"]["W1"], net.optimizer.state["m"]["W1"])
    with pytest.raises(anynet.DivergenceError) as caught:
        anynet.train(X * 1e6, y, network=net, optimizer="sgd", learning_rate=1e6, epochs=3,
                     verbose=False)
    again = pickle.loads(pickle.dumps(caught.value))  # joblib's workers send it back
    assert (again.epoch, str(again)) == (caught.value.epoch, str(caught.value))
    import signal
    with pytest.warns(UserWarning, match="training interrupted") as seen:
        anynet.train(X, y, epochs=3, backend="numpy", verbose=False,
                     callbacks=[lambda e, h, n: os.kill(os.getpid(), signal.SIGINT)])
    assert seen[0].filename == __file__  # the warning points at the caller's line


def test_an_estimator_refit_equals_its_fit():
    from sklearn.exceptions import ConvergenceWarning

    from anynet.sklearn import MLPClassifier
    X, y = _blobs()
    estimator = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        first = estimator.fit(X, y).predict_proba(X)
        second = estimator.fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(second, first)


# --- 3. one object per training run ----------------------------------------------------

def test_a_stopped_run_stays_stopped_when_resumed(tmp_path):
    """The checkpoint of an early-stopped run records it: resuming (after a kill once
    the last checkpoint was written, say) returns the same network at once."""
    X, y = _blobs(n=120)
    options = dict(hidden=(16,), epochs=60, batch_size=16, learning_rate=0.05,
                   early_stopping=True, patience=2, checkpoint=tmp_path / "run.npz",
                   checkpoint_every=7)
    done = _quiet(X, y, **options)
    epochs = len(done.history["loss"])
    assert epochs < 60 and done.history["stopped"] == "early_stopping"
    with np.load(tmp_path / "run.npz") as f:
        training = json.loads(f["__anynet__"].tobytes())["training"]
    assert training["stopped"] == "early_stopping" and training["epoch"] == epochs
    again = _quiet(X, y, **options, resume=True)
    assert len(again.history["loss"]) == epochs
    for key in done:
        np.testing.assert_array_equal(again[key], done[key])
    calls = []
    stop = _quiet(X, y, epochs=9, callbacks=[lambda e, h, n: calls.append(e) or e == 2],
                  checkpoint=tmp_path / "cb.npz")
    assert stop.history["stopped"] == "callback" and len(stop.history["loss"]) == 3
    _quiet(X, y, epochs=9, callbacks=[lambda e, h, n: calls.append(e)],
           checkpoint=tmp_path / "cb.npz", resume=True)
    assert calls == [0, 1, 2]  # resumed a finished run: not one more epoch


# --- 4. one table per loss and task: multi-label targets --------------------------------

def _multilabel(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 5))
    Y = np.stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] * X[:, 4] > 0], axis=1)
    return X, Y.astype(int)


def test_multilabel_targets_are_first_class():
    from sklearn.metrics import accuracy_score
    X, Y = _multilabel()
    net = _quiet(X, Y, hidden=(32,), epochs=60, batch_size=32, validation_split=0.2)
    assert (net.loss, net.output_activation, net.layer_sizes[-1]) == \
        ("binary_cross_entropy", "sigmoid", 3)
    assert net.classes == (0, 1, 2) and net.task.multilabel
    predicted = net.predict_classes(X)
    assert predicted.shape == (200, 3) and set(np.unique(predicted)) <= {0, 1}
    assert net.score(X, Y) == pytest.approx(accuracy_score(Y, predicted))
    assert net.score(X, Y) > 0.8
    assert net.history["metric"] == "accuracy"
    assert 0.5 < net.history["val_metric"][-1] <= 1.0
    hand_built = anynet.initialize_network([5, 4, 3], activation="relu",
                                           loss="binary_cross_entropy")
    assert hand_built.predict_classes(X).shape == (200, 3)  # no IndexError
    assert 0.0 <= hand_built.score(X, Y) <= 1.0


def test_a_multilabel_network_round_trips(tmp_path):
    X, Y = _multilabel(n=40)
    net = _quiet(X, Y, hidden=(8,), epochs=2)
    anynet.save(net, tmp_path / "m.npz")
    loaded = anynet.load(tmp_path / "m.npz")
    assert loaded.classes == (0, 1, 2)
    np.testing.assert_array_equal(loaded.predict_classes(X), net.predict_classes(X))


# --- 5. the rest of the review's findings ---------------------------------------------

def test_torch_input_that_requires_grad_builds_no_graph():
    torch = pytest.importorskip("torch")
    X, y = _blobs()
    Xt = torch.tensor(X, requires_grad=True)
    net = _quiet(Xt, y, hidden=(8,), epochs=3, backend="torch", dtype="float64")
    for value in net.values():
        assert value.grad_fn is None and not value.requires_grad
    y_pred, cache = anynet.forward_propagation(net, Xt)
    assert y_pred.grad_fn is None and net.predict(Xt).grad_fn is None


def test_read_only_numpy_input_on_torch_does_not_warn():
    pytest.importorskip("torch")
    X, y = _blobs()
    X.flags.writeable = False
    net = _quiet(X, y, hidden=(8,), epochs=1, backend="torch", dtype="float64")
    net.predict(X)  # pytest turns any warning into an error here
    anynet.forward_propagation(net, X)


def test_warm_starts_accept_every_spelling_of_their_own_backend_and_dtype():
    torch = pytest.importorskip("torch")
    X, y = _blobs()
    net = _quiet(X, y, epochs=1, backend="torch")
    for spelling in (dict(backend=torch), dict(backend="torch", device="cpu"),
                     dict(dtype=np.float32), dict(dtype=torch.float32),
                     dict(backend=net.backend, dtype="float32")):
        anynet.train(X, y, network=net, epochs=1, verbose=False, **spelling)
    with pytest.raises(ValueError, match="dtype=.*differs from the network's 'float32'"):
        anynet.train(X, y, network=net, epochs=1, dtype=torch.float64, verbose=False)
    with pytest.raises(ValueError, match="backend='numpy' differs"):
        anynet.train(X, y, network=net, epochs=1, backend="numpy", verbose=False)


def test_float32_losses_clamp_their_logarithm_at_minus_100():
    for dtype in (np.float32, np.float64):
        wrong = np.array([[0.0], [1.0]], dtype=dtype)
        value = anynet.compute_loss(np.array([[1.0], [0.0]]), wrong, "binary_cross_entropy")
        assert float(value) == 100.0 and value.dtype == dtype
        P = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=dtype)
        assert float(anynet.compute_loss(np.array([1, 0]), P, "cross_entropy")) == 100.0


def _python(code, **env):
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, **env})
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_jax_without_x64_trains_float32_silently_and_refuses_float64():
    pytest.importorskip("jax")
    out = _python("""
        import warnings
        warnings.simplefilter("error")
        import numpy as np, anynet
        X, y = np.random.default_rng(0).standard_normal((30, 3)), np.arange(30) % 3
        net = anynet.train(X, y, hidden=(4,), epochs=2, batch_size=8, backend="jax",
                           validation_split=0.2, early_stopping=True, verbose=False)
        net.score(X, y); anynet.predict(net, X); net.predict_classes(X)
        binary = anynet.train(X, y % 2, epochs=1, backend="jax", verbose=False)
        binary.predict_classes(X); binary.score(X, y % 2)
        y_pred, cache = anynet.forward_propagation(net, X)
        anynet.backward_propagation(net, cache, X, y)
        anynet.compute_loss(y, y_pred, "cross_entropy")
        try:
            anynet.train(X, y, epochs=1, backend="jax", dtype="float64", verbose=False)
        except TypeError as exc:
            print("refused:", exc)
    """, JAX_ENABLE_X64="0", JAX_PLATFORMS="cpu")
    assert "refused: dtype='float64' is not available" in out and "jax_enable_x64" in out


def test_plot_history_leaves_the_matplotlib_backend_alone(tmp_path):
    pytest.importorskip("matplotlib")
    out = _python(f"""
        import matplotlib, numpy as np, anynet
        before = matplotlib.get_backend()
        net = anynet.train(np.eye(4), [0, 1, 1, 0], epochs=3, backend="numpy",
                           verbose=False)
        anynet.plot_history(net, {str(tmp_path / "loss.png")!r})
        print(before, matplotlib.get_backend())
    """, MPLBACKEND="svg")
    assert out.split() == ["svg", "svg"]
    assert (tmp_path / "loss.png").read_bytes()[:4] == b"\x89PNG"


# --- the network owns its input scaling (issue 11: Python and the CLI predict alike) ----

def test_a_standardizing_network_takes_raw_features_everywhere(tmp_path):
    X, y = _blobs(n=80)
    X = X * [1.0, 100.0, 1e-3, 5.0] + [0.0, 1e4, 0.0, -7.0]
    net = _quiet(X, y, hidden=(8,), epochs=4, dtype="float64", standardize=True)
    mean, scale = (host(a) for a in net.input_scaling)
    np.testing.assert_allclose(mean[0], X.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(scale[0], X.std(axis=0), rtol=1e-12)
    manual = _quiet((X - X.mean(axis=0)) / X.std(axis=0), y, hidden=(8,), epochs=4,
                    dtype="float64")
    for key in net:
        np.testing.assert_allclose(net[key], manual[key], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(net.predict(X), manual.predict((X - mean) / scale), atol=1e-12)
    np.testing.assert_allclose(anynet.forward_propagation(net, X)[0], net.predict(X))
    path = anynet.save(net, tmp_path / "scaled.npz")
    loaded = anynet.load(path)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    assert pickle.loads(pickle.dumps(net)).score(X, y) == net.score(X, y)
    with np.load(path) as f:  # an older anynet refuses it rather than predict wrongly
        assert json.loads(f["__anynet__"].tobytes())["format_version"] == 2
    more = anynet.train(X, y, network=net, epochs=1, verbose=False)  # keeps its scaling
    assert more.input_scaling is net.input_scaling and more.score(X, y) > 0.5
    with pytest.raises(ValueError, match="standardize=True is for a new network"):
        anynet.train(X, y, network=manual, standardize=True, verbose=False)
    with pytest.raises(ValueError, match="X column 2 cannot be standardised"):
        _quiet(np.c_[X[:, :2], np.r_[1e300, -1e300, np.zeros(78)], X[:, 3]], y,
               dtype="float64", standardize=True)


def test_a_model_trained_by_the_command_line_predicts_alike_in_python(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((150, 2)) * [1.0, 1000.0] + [0.0, 5000.0]
    y = (X[:, 0] + (X[:, 1] - 5000.0) / 1000.0 > 0).astype(int)
    np.savez(tmp_path / "data.npz", X=X, y=y)
    done = subprocess.run([sys.executable, "-m", "anynet", "train", tmp_path / "data.npz",
                           "-o", tmp_path / "m.npz", "--epochs", "60", "--quiet",
                           "--backend", "numpy", "--checkpoint", tmp_path / "c.npz"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for path in ("m.npz", "c.npz"):  # the model and the checkpoint: raw features
        assert anynet.load(tmp_path / path).score(X, y) > 0.95, path
