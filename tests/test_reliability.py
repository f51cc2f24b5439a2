"""Training that survives: divergence, checkpoints and resume, Ctrl-C, SIGKILL."""
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
