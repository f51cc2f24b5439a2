"""Training that survives: divergence, checkpoints and resume, Ctrl-C, SIGKILL."""
import functools
import json
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import anynet
from conftest import host

rng = np.random.default_rng(0)
X = rng.standard_normal((120, 5))
Y = np.array(["a", "b", "c"])[rng.integers(0, 3, 120)]
OPTIONS = dict(hidden=(16,), epochs=8, batch_size=16, backend="numpy", verbose=False,
               validation_split=0.2, early_stopping=True, patience=3,
               lr_schedule=anynet.schedules.ReduceLROnPlateau(0.5, patience=1))


def test_divergence_is_reported_and_rolled_back(xp_backend):
    Xr = rng.standard_normal((40, 3)) * 100
    yr = Xr @ np.array([1.0, 2.0, 3.0])
    net = anynet.train(Xr, yr, epochs=1, optimizer="sgd", learning_rate=1e-6, backend=xp_backend,
                       dtype="float64", verbose=False)
    before = {k: host(v) for k, v in net.items()}
    with pytest.raises(anynet.DivergenceError) as caught:
        anynet.train(Xr, yr, network=net, epochs=5, optimizer="sgd", learning_rate=10.0,
                     verbose=False)
    error = caught.value
    assert isinstance(error, FloatingPointError)
    assert error.epoch >= 0 and error.batch is not None and error.batch >= 0
    assert "learning_rate=10" in str(error) and f"epoch {error.epoch}" in str(error)
    for key, value in before.items():
        np.testing.assert_array_equal(host(net[key]), value)  # the network given: untouched
        assert np.all(np.isfinite(host(error.network[key])))  # the last finite parameters
    # they are those at the start of the epoch that diverged
    if error.epoch > 0:
        again = anynet.train(Xr, yr, network=net.copy(), epochs=error.epoch, optimizer="sgd",
                             learning_rate=10.0, verbose=False)
        for key in before:
            np.testing.assert_array_equal(host(error.network[key]), host(again[key]))


def test_checkpoint_then_resume_is_exact(tmp_path):
    path = tmp_path / "run.npz"
    whole = anynet.train(X, Y, **OPTIONS)
    part = anynet.train(X, Y, **dict(OPTIONS, epochs=3), checkpoint=path)
    with np.load(path, allow_pickle=False) as f:
        description = json.loads(f["__anynet__"].tobytes())
    assert description["training"]["epoch"] == 3
    assert description["optimizer"]["t"] == part.optimizer.t
    resumed = anynet.train(X, Y, **OPTIONS, checkpoint=path, resume=True)
    for key in whole:
        np.testing.assert_array_equal(resumed[key], whole[key])
    assert resumed.history["loss"] == whole.history["loss"]
    assert resumed.history["lr"] == whole.history["lr"]


def test_resume_without_a_checkpoint_starts_afresh(tmp_path):
    net = anynet.train(X, Y, **OPTIONS, checkpoint=tmp_path / "new.npz", resume=True)
    np.testing.assert_array_equal(net["W1"], anynet.train(X, Y, **OPTIONS)["W1"])
    assert (tmp_path / "new.npz").exists()


def test_resume_errors(tmp_path):
    path = tmp_path / "run.npz"
    anynet.train(X, Y, **dict(OPTIONS, epochs=2), checkpoint=path)
    with pytest.raises(ValueError, match="checkpoint is of another run"):
        anynet.train(X, Y, **dict(OPTIONS, batch_size=8), checkpoint=path, resume=True)
    with pytest.raises(ValueError, match="resume=True needs checkpoint="):
        anynet.train(X, Y, **OPTIONS, resume=True)
    with pytest.raises(ValueError, match="checkpoint_every must be > 0"):
        anynet.train(X, Y, **OPTIONS, checkpoint=path, checkpoint_every=0)
    anynet.save(anynet.train(X, Y, **dict(OPTIONS, epochs=1)), tmp_path / "model.npz")
    with pytest.raises(ValueError, match="not a training checkpoint"):
        anynet.train(X, Y, **OPTIONS, checkpoint=tmp_path / "model.npz", resume=True)


SCRIPT = textwrap.dedent("""
    import sys, time
    import numpy as np
    import anynet
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 20))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    slow = lambda epoch, history, network: time.sleep(0.05) if sys.argv[2] == "slow" else None
    net = anynet.train(X, y, hidden=(32, 32), epochs=12, batch_size=50, backend="numpy",
                       verbose=False, validation_split=0.1, checkpoint=sys.argv[1],
                       resume=True, callbacks=[slow])
    print("epochs", len(net.history["loss"]), flush=True)
    np.save(sys.argv[1] + ".W1.npy", net["W1"])
""")


def _launch(tmp_path, path, mode):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    return subprocess.Popen([sys.executable, str(script), str(path), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path, timeout=120):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)


def _uninterrupted(tmp_path):
    reference = tmp_path / "reference.npz"
    done = _launch(tmp_path, reference, "fast")
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    return np.load(str(reference) + ".W1.npy")


def test_killed_run_resumes_exactly(tmp_path):
    path = tmp_path / "run.npz"
    victim = _launch(tmp_path, path, "slow")
    _wait_for(path)
    time.sleep(0.13)  # somewhere in a later epoch
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=60)  # reaps it and closes its pipes
    assert victim.returncode == -signal.SIGKILL
    with np.load(path, allow_pickle=False) as f:
        killed_at = json.loads(f["__anynet__"].tobytes())["training"]["epoch"]
    assert 1 <= killed_at < 12
    again = _launch(tmp_path, path, "fast")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert "epochs 12" in out
    np.testing.assert_array_equal(np.load(str(path) + ".W1.npy"), _uninterrupted(tmp_path))


def test_ctrl_c_returns_the_network_and_writes_the_checkpoint(tmp_path):
    path = tmp_path / "run.npz"
    child = _launch(tmp_path, path, "slow")
    _wait_for(path)
    time.sleep(0.1)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert "training interrupted during epoch" in err and "returning the network" in err
    stopped = int(out.split()[1])
    assert 1 <= stopped < 12
    with np.load(path, allow_pickle=False) as f:
        assert json.loads(f["__anynet__"].tobytes())["training"]["epoch"] == stopped
    again = _launch(tmp_path, path, "fast")  # and resuming from it is exact
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    np.testing.assert_array_equal(np.load(str(path) + ".W1.npy"), _uninterrupted(tmp_path))


# --- a resume continues only its own run (issue 19) ---------------------------------

_Xf = rng.standard_normal((48, 4))
_yf = rng.integers(0, 3, 48)
_BASE = dict(hidden=(6,), epochs=1, batch_size=16, backend="numpy", verbose=False)


def _changed_cases():
    """Per fingerprinted argument of ``anynet.train``, the arguments of a run that
    differs from the base run in that argument alone (X and y among them)."""
    net = anynet.initialize_network([4, 6, 3], activation="relu", output_activation="softmax",
                                    loss="cross_entropy", init="he", seed=0)
    return {
        "X": dict(X=_Xf + 1e-3), "y": dict(y=2 - _yf),
        "sample_weight": dict(sample_weight=np.linspace(0.5, 1.5, 48)),
        "validation_data": dict(validation_data=(_Xf[:8], _yf[:8])),
        "hidden": dict(hidden=(7,)), "activation": dict(activation="tanh"),
        "loss": dict(loss="mse"), "optimizer": dict(optimizer="rmsprop"),
        "learning_rate": dict(learning_rate=0.02), "batch_size": dict(batch_size=8),
        "dtype": dict(dtype="float64"), "seed": dict(seed=1), "network": dict(network=net),
        "validation_split": dict(validation_split=0.25),
        "early_stopping": dict(early_stopping="loss"), "patience": dict(patience=3),
        "weight_decay": dict(weight_decay=0.001), "lr_schedule": dict(lr_schedule="cosine"),
        "clip_norm": dict(clip_norm=1.0), "shuffle": dict(shuffle=False),
        "init": dict(init="xavier"), "standardize": dict(standardize=True),
        "alpha": dict(alpha=1e-3), "dropout": dict(dropout=0.2), "tol": dict(tol=1e-3),
        "_watched": dict(_watched=(1.0, 2)),
        # an optimizer's keyword option (**optimizer_options)
        "optimizer_options": dict(beta1=0.8),
    }


# needs mpiexec: it is fingerprinted (asserted below), and the ranks' test covers it
_EXEMPT = {"sharded"}


def test_every_option_is_fingerprinted_or_listed_as_may_change():
    """A new argument of train without a case here fails this test: it must be given
    one (it is fingerprinted by default) or be put on the may-change list on purpose."""
    import inspect
    from anynet._fingerprint import MAY_CHANGE, THROUGH_DATA, fingerprinted
    names = set(inspect.signature(anynet.train).parameters)
    covered = set(fingerprinted(anynet.train)) | THROUGH_DATA | {"optimizer_options"}
    assert names == covered | MAY_CHANGE
    assert "sharded" in covered and not MAY_CHANGE & covered
    assert set(_changed_cases()) == covered - _EXEMPT


@pytest.mark.parametrize("option", sorted(_changed_cases()))
def test_a_resume_refuses_another_run(tmp_path, option):
    path = tmp_path / "run.npz"
    anynet.train(_Xf, _yf, **_BASE, checkpoint=path)
    before = path.read_bytes()
    changed = dict(_BASE, X=_Xf, y=_yf, epochs=3)
    changed.update(_changed_cases()[option])
    field = {"optimizer_options": "options.optimizer.settings.beta1: checkpoint 0.9",
             "X": "data.digest:", "y": "data.digest:", "sample_weight": "data.",
             "validation_data": "data."}.get(option, f"options.{option}: checkpoint ")
    with pytest.raises(ValueError, match="checkpoint is of another run") as caught:
        anynet.train(changed.pop("X"), changed.pop("y"), **changed, checkpoint=path,
                     resume=True)
    message = str(caught.value)
    assert message.startswith(str(path)) and field in message, message
    assert "may change only" in message and "epochs" in message
    assert path.read_bytes() == before  # the checkpoint is left as it was


@pytest.mark.parametrize("labels", [
    lambda y: 2 - y,  # relabelled: the same classes, another meaning
    lambda y: np.array(["x", "y", "z"])[y],  # other classes, the same columns
    lambda y: y + 1,  # other integer classes
])
def test_other_or_relabelled_classes_are_another_run(tmp_path, labels):
    path = tmp_path / "run.npz"
    anynet.train(_Xf, _yf, **_BASE, checkpoint=path)
    with pytest.raises(ValueError, match="another run"):
        anynet.train(_Xf, labels(_yf), **dict(_BASE, epochs=2), checkpoint=path, resume=True)


def test_what_may_change_on_resume_does(tmp_path):
    """More epochs, callbacks, verbosity, checkpoint_every, another backend or another
    checkpoint path: the run goes on, and ends as the uninterrupted run does."""
    whole = anynet.train(_Xf, _yf, **dict(_BASE, epochs=4, dtype="float64"))
    path = tmp_path / "run.npz"
    anynet.train(_Xf, _yf, **dict(_BASE, epochs=2, dtype="float64"), checkpoint=path)
    moved = tmp_path / "moved.npz"
    moved.write_bytes(path.read_bytes())
    seen = []
    resumed = anynet.train(_Xf, _yf, **dict(_BASE, epochs=4, dtype="float64",
                                            backend="array_api_strict"),
                           checkpoint=moved, resume=True, checkpoint_every=2,
                           callbacks=[lambda epoch, history, network: seen.append(epoch)])
    assert seen == [2, 3]
    for key in whole:
        np.testing.assert_allclose(host(resumed[key]), whole[key], rtol=1e-12, atol=1e-12)
    assert resumed.history["loss"] == pytest.approx(whole.history["loss"], rel=1e-12)


def test_the_checkpoint_records_its_fingerprint_readably(tmp_path):
    path = tmp_path / "run.npz"
    anynet.train(_Xf, _yf, **_BASE, alpha=1e-3, dropout=0.1, checkpoint=path)
    with np.load(path, allow_pickle=False) as f:
        run = json.loads(f["__anynet__"].tobytes())["training"]["run"]
    assert run["options"]["alpha"] == 1e-3 and run["options"]["dropout"] == 0.1
    assert run["options"]["optimizer"]["settings"]["beta1"] == 0.9
    assert run["task"]["classes"] == [0, 1, 2]
    assert run["data"]["shapes"][0] == [48, 4] and run["data"]["digest"].startswith("sha256:")


def test_data_digest_is_the_same_for_every_spelling_of_the_data():
    """The digest is of the rows the run sees: a list, a float32 copy or a torch tensor
    of the same numbers give the same one; one changed value gives another."""
    from anynet._fingerprint import data_fingerprint
    a = rng.standard_normal((300, 5))
    same = data_fingerprint(a, None)
    assert data_fingerprint(np.asfortranarray(a), None) == same
    b = a.copy()
    b[299, 4] = np.nextafter(b[299, 4], 1.0)
    assert data_fingerprint(b, None)["digest"] != same["digest"]
    assert data_fingerprint(a[:, :4], None)["digest"] != same["digest"]
    assert data_fingerprint(None, a)["digest"] != same["digest"]
    torch = pytest.importorskip("torch")
    assert data_fingerprint(torch.asarray(a), None) == same


def test_ctrl_c_in_the_first_epoch_leaves_a_checkpoint_that_resumes(tmp_path, monkeypatch):
    """Interrupted before the first epoch ends, the checkpoint holds epoch 0 and no
    optimizer arrays; resuming from it trains the whole run, exactly."""
    import anynet.training

    class AtOnce(anynet.training.Interrupt):
        def __init__(self):
            super().__init__()
            self.requested = True

    path = tmp_path / "run.npz"
    options = dict(_BASE, epochs=3, optimizer="adam")
    with monkeypatch.context() as patch:
        patch.setattr(anynet.training, "Interrupt", AtOnce)
        with pytest.warns(UserWarning, match="interrupted during epoch 0"):
            anynet.train(_Xf, _yf, **options, checkpoint=path)
    with np.load(path, allow_pickle=False) as f:
        training = json.loads(f["__anynet__"].tobytes())["training"]
        assert training["epoch"] == 0 and not any(k.startswith("optimizer.") for k in f.files)
    resumed = anynet.train(_Xf, _yf, **options, checkpoint=path, resume=True)
    whole = anynet.train(_Xf, _yf, **options)
    for key in whole:
        np.testing.assert_array_equal(resumed[key], whole[key])
    assert resumed.history["loss"] == whole.history["loss"]


def _halving(epoch, base_lr, history):
    return base_lr * 0.5 ** epoch


def _thirding(epoch, base_lr, history):
    return base_lr * 0.3 ** epoch


def test_a_callable_schedule_is_known_by_its_code(tmp_path):
    """The same function resumes; another one of the same name (a lambda, or one with
    another constant) is another run."""
    path = tmp_path / "run.npz"
    anynet.train(_Xf, _yf, **_BASE, lr_schedule=_halving, checkpoint=path)
    anynet.train(_Xf, _yf, **dict(_BASE, epochs=2), lr_schedule=_halving, checkpoint=path,
                 resume=True)
    for other in (_thirding, lambda e, lr, h: lr):
        with pytest.raises(ValueError, match="options.lr_schedule"):
            anynet.train(_Xf, _yf, **dict(_BASE, epochs=3), lr_schedule=other,
                         checkpoint=path, resume=True)
    path = tmp_path / "lambda.npz"

    def scaled(k):
        return lambda e, lr, h: lr * k
    anynet.train(_Xf, _yf, **_BASE, lr_schedule=scaled(0.5), checkpoint=path)
    with pytest.raises(ValueError, match="options.lr_schedule.code"):
        anynet.train(_Xf, _yf, **dict(_BASE, epochs=2), lr_schedule=scaled(0.25),
                     checkpoint=path, resume=True)
    anynet.train(_Xf, _yf, **dict(_BASE, epochs=2), lr_schedule=scaled(0.5), checkpoint=path,
                 resume=True)


def _decay(epoch, base_lr, history, k=0.5):
    return base_lr * k ** epoch


@pytest.mark.parametrize("make", [
    lambda k: functools.partial(_decay, k=k),  # a partial: its arguments
    lambda k: functools.partial(_decay, k=k) if k == 0.5 else functools.partial(_decay),
    lambda k: (lambda e, lr, h, k=k: lr * k ** e),  # a default argument is a constant too
    lambda k: (lambda e, lr, h, *, k=k: lr * k ** e)])
def test_a_schedule_is_known_by_its_constants_however_it_holds_them(tmp_path, make):
    """The schedule with another constant is another run, whether the constant is
    closed over, a default argument or a partial's; the same one resumes. Under MPI
    the ranks compare the same record (``_arguments._text``)."""
    from anynet._arguments import _text
    path = tmp_path / "run.npz"
    anynet.train(_Xf, _yf, **_BASE, lr_schedule=make(0.5), checkpoint=path)
    assert _text(make(0.5)) == _text(make(0.5)) != _text(make(0.99))
    with pytest.raises(ValueError, match="options.lr_schedule"):
        anynet.train(_Xf, _yf, **dict(_BASE, epochs=2), lr_schedule=make(0.99),
                     checkpoint=path, resume=True)
    anynet.train(_Xf, _yf, **dict(_BASE, epochs=2), lr_schedule=make(0.5), checkpoint=path,
                 resume=True)


def test_a_warm_started_run_resumes_with_the_network_it_was_given(tmp_path):
    """``network=net`` trains ``net`` in place; the same call with ``resume=True`` (more
    epochs) continues the checkpoint, exactly as one uninterrupted run."""
    import copy
    path = tmp_path / "run.npz"
    net = anynet.train(_Xf, _yf, **_BASE, seed=3)
    start = copy.deepcopy(net)
    anynet.train(_Xf, _yf, **dict(_BASE, epochs=2), network=net, checkpoint=path)
    resumed = anynet.train(_Xf, _yf, **dict(_BASE, epochs=4), network=net, checkpoint=path,
                           resume=True)
    whole = anynet.train(_Xf, _yf, **dict(_BASE, epochs=4), network=start)
    for key in whole:
        np.testing.assert_array_equal(resumed[key], whole[key])
    other = anynet.initialize_network([4, 7, 3], activation="relu", output_activation="softmax",
                                      loss="cross_entropy", seed=0)
    with pytest.raises(ValueError, match="options.network.config"):
        anynet.train(_Xf, _yf, **dict(_BASE, epochs=5), network=other, checkpoint=path,
                     resume=True)


def test_a_checkpoint_of_an_earlier_anynet_is_refused_with_the_reason(tmp_path):
    """Its record of the run (seed, batch size, rows, layers, optimizer) is too thin to
    tell another run from this one."""
    path = tmp_path / "run.npz"
    anynet.train(_Xf, _yf, **_BASE, checkpoint=path)
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    description = json.loads(arrays["__anynet__"].tobytes())
    description["training"]["run"] = {"seed": 0, "batch_size": 16, "shuffle": True,
                                      "n_samples": 48, "layer_sizes": [4, 6, 3],
                                      "optimizer": "Adam"}
    arrays["__anynet__"] = np.frombuffer(json.dumps(description).encode(), np.uint8)
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="written by an earlier anynet"):
        anynet.train(_Xf, _yf, **dict(_BASE, epochs=2), checkpoint=path, resume=True)


def test_a_shuffle_stream_is_known_by_its_state(tmp_path):
    """shuffle=RandomState (scikit-learn's way): the stream as the run started is part
    of the run; the same stream in that state resumes, another seed is another run."""
    path = tmp_path / "run.npz"
    anynet.train(_Xf, _yf, **_BASE, shuffle=np.random.RandomState(3), checkpoint=path)
    with pytest.raises(ValueError, match="options.shuffle.state"):
        anynet.train(_Xf, _yf, **dict(_BASE, epochs=2), shuffle=np.random.RandomState(4),
                     checkpoint=path, resume=True)
    resumed = anynet.train(_Xf, _yf, **dict(_BASE, epochs=2),
                           shuffle=np.random.RandomState(3), checkpoint=path, resume=True)
    whole = anynet.train(_Xf, _yf, **dict(_BASE, epochs=2), shuffle=np.random.RandomState(3))
    for key in whole:
        np.testing.assert_array_equal(resumed[key], whole[key])
