"""anynet.save / anynet.load: round trips across backends, atomic writes, bad files."""
import json
import pickle

import numpy as np
import pytest

import anynet
from anynet import persistence
from conftest import assert_on_backend, host

rng = np.random.default_rng(0)
X = rng.standard_normal((30, 4))
LABELS = np.array(["ant", "bee", "cat"])[rng.integers(0, 3, 30)]


def _trained(backend="numpy", dtype=None, **kw):
    return anynet.train(X, LABELS, hidden=(8, 5), epochs=3, batch_size=8, backend=backend,
                        dtype=dtype, verbose=False, **kw)


def test_round_trip_on_every_backend(xp_backend, tmp_path):
    net = _trained(xp_backend, "float64")
    net.metadata = {"note": "trained on " + xp_backend.name}
    path = anynet.save(net, tmp_path / "model.npz")
    for backend in (xp_backend, "numpy"):  # back where it was, and onto a laptop's NumPy
        again = anynet.load(path, backend=backend)
        assert again.config == net.config and again.metadata == net.metadata
        for key, value in net.items():
            assert_on_backend(again[key], again.backend, "float64")
            np.testing.assert_array_equal(host(again[key]), host(value))
        np.testing.assert_array_equal(again.predict_classes(X), net.predict_classes(X))
    assert anynet.load(path, backend=xp_backend, dtype="float32").dtype == "float32"


def test_file_is_plain_npz_without_pickles(tmp_path):
    path = anynet.save(_trained(), tmp_path / "model.npz")
    with np.load(path, allow_pickle=False) as archive:
        assert set(archive.files) == {"W1", "b1", "W2", "b2", "W3", "b3", "__anynet__"}
        description = json.loads(archive["__anynet__"].tobytes())
    assert description["format"] == "anynet" and description["format_version"] == 1
    assert description["config"]["classes"] == ["ant", "bee", "cat"]
    assert description["anynet_version"] == anynet.__version__


def test_optimizer_state_round_trip(tmp_path):
    net = _trained(optimizer="momentum", momentum=0.8, nesterov=True)
    path = anynet.save(net, tmp_path / "model.npz", optimizer=True)
    again = anynet.load(path)
    opt, saved = again.optimizer, net.optimizer
    assert type(opt) is type(saved) and opt.t == saved.t
    assert (opt.momentum, opt.nesterov) == (0.8, True)
    for key in net:
        np.testing.assert_array_equal(opt.state["velocity"][key], saved.state["velocity"][key])
    assert anynet.load(anynet.save(net, tmp_path / "plain.npz")).optimizer is None
    with pytest.raises(ValueError, match="optimizer=True needs a network trained"):
        anynet.save(anynet.initialize_network([2, 2, 1]), tmp_path / "x.npz", optimizer=True)


def test_safetensors(tmp_path):
    safetensors = pytest.importorskip("safetensors.numpy")
    net = _trained()
    path = anynet.save(net, tmp_path / "model.safetensors", optimizer=True)
    weights = safetensors.load_file(str(path))  # what a PyTorch user reads
    np.testing.assert_array_equal(weights["W1"], net["W1"])
    again = anynet.load(path)
    np.testing.assert_array_equal(again.predict(X), net.predict(X))
    assert again.optimizer.t == net.optimizer.t


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    anynet.save(_trained(), path)
    before = path.read_bytes()

    def crash(f, **arrays):
        f.write(b"half a model")
        raise KeyboardInterrupt  # the process dies mid-write

    monkeypatch.setattr(persistence.np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        anynet.save(_trained(), path)
    assert path.read_bytes() == before  # the old model is intact
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # no temporary left


def test_save_errors(tmp_path):
    with pytest.raises(TypeError, match="net must be an anynet Network"):
        anynet.save({"W1": np.ones(2)}, tmp_path / "m.npz")
    with pytest.raises(ValueError, match="folder .* does not exist"):
        anynet.save(_trained(), tmp_path / "missing" / "m.npz")


def _description(path):
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    return arrays, json.loads(arrays.pop("__anynet__").tobytes())


def _rewrite(path, arrays, description):
    arrays = dict(arrays, __anynet__=np.frombuffer(json.dumps(description).encode(), np.uint8))
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("damage, message", [
    (lambda a, d: (a, dict(d, format_version=4)), "format version 4 .* upgrade anynet"),
    (lambda a, d: (a, dict(d, format="kerasnet")), "not an anynet model file"),
    (lambda a, d: ({**a, "W2": np.ones((3, 3))}, d), r"array 'W2' has shape \(3, 3\)"),
    (lambda a, d: ({k: v for k, v in a.items() if k != "b3"}, d), "array 'b3' is missing"),
    (lambda a, d: ({**a, "W1": a["W1"].astype(int)}, d), "array 'W1' has dtype int64"),
    (lambda a, d: ({**a, "W1": a["W1"] * np.nan}, d), "array 'W1' contains NaN"),
    (lambda a, d: (a, {**d, "config": {**d["config"], "layer_sizes": [10 ** 6] * 4}}),
     "asks for .* parameters, more than anynet loads"),
    (lambda a, d: (a, {**d, "config": {**d["config"], "layer_sizes": [4, -1, 3]}}),
     "not a list of positive integers"),
    (lambda a, d: (a, {**d, "config": {**d["config"], "activation": "gelu"}}),
     "activation='gelu' is not a known activation"),
    (lambda a, d: (a, {**d, "config": {"layer_sizes": [4, 3]}}), "lacks a valid config"),
    (lambda a, d: (a, {**d, "config": {**d["config"], "classes": ["x"]}}),
     "classes .* do not match"),
])
def test_damaged_descriptions(tmp_path, damage, message):
    path = anynet.save(_trained(), tmp_path / "model.npz")
    arrays, description = damage(*_description(path))
    _rewrite(path, arrays, description)
    with pytest.raises(ValueError, match=message):
        anynet.load(path)


def test_broken_and_foreign_files(tmp_path):
    good = anynet.save(_trained(), tmp_path / "model.npz").read_bytes()
    cases = {
        "truncated.npz": good[: len(good) // 2],
        "random.npz": np.random.default_rng(1).bytes(4000),
        "empty.npz": b"",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=f"{name}: cannot load"):
            anynet.load(tmp_path / name)
    np.savez(tmp_path / "foreign.npz", weights=np.ones(3))
    with pytest.raises(ValueError, match="foreign.npz: .*not an anynet model"):
        anynet.load(tmp_path / "foreign.npz")
    np.save(tmp_path / "single.npy", np.ones(3))
    with pytest.raises(ValueError, match="single array"):
        anynet.load(tmp_path / "single.npy")
    with pytest.raises(ValueError, match="no such file"):
        anynet.load(tmp_path / "nothing.npz")


def test_pickled_objects_are_never_executed(tmp_path):
    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pickle executed')",))

    np.savez(tmp_path / "evil.npz", W1=np.array([Boom()], dtype=object),
             __anynet__=np.array([Boom()], dtype=object))
    with pytest.raises(ValueError, match="evil.npz: cannot load"):
        anynet.load(tmp_path / "evil.npz")
    (tmp_path / "evil2.npz").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(ValueError, match="evil2.npz: cannot load"):
        anynet.load(tmp_path / "evil2.npz")


# --- saving: what was asked, where it was asked ---------------------------------------

@pytest.fixture
def umask():
    """Set the process's umask for one test, and put the old one back."""
    import os
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def test_a_new_file_follows_the_umask_and_an_old_one_keeps_its_mode(tmp_path, umask):
    import os
    net = _trained()
    for mask, mode in [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)]:
        umask(mask)
        path = anynet.save(net, tmp_path / f"new{mask:o}.npz")
        assert os.stat(path).st_mode & 0o777 == mode, (oct(mask), oct(os.stat(path).st_mode))
    umask(0o077)
    path = tmp_path / "shared.npz"
    anynet.save(net, path)
    os.chmod(path, 0o644)  # the user opened it to the group
    anynet.save(net, path, optimizer=True)
    assert os.stat(path).st_mode & 0o777 == 0o644


def test_saving_to_a_symlink_writes_through_to_its_target(tmp_path):
    target = tmp_path / "store" / "model.npz"
    target.parent.mkdir()
    anynet.save(_trained(), target)
    link = tmp_path / "latest.npz"
    link.symlink_to(target)
    net = _trained(seed=5)
    anynet.save(net, link)
    assert link.is_symlink() and link.resolve() == target.resolve()
    np.testing.assert_array_equal(anynet.load(target)["W1"], net["W1"])
    dangling = tmp_path / "next.npz"
    dangling.symlink_to(tmp_path / "store" / "new.npz")  # the link names a file to create
    anynet.save(net, dangling)
    assert dangling.is_symlink() and (tmp_path / "store" / "new.npz").is_file()


def test_a_path_that_is_not_a_regular_file_is_refused_and_left_alone(tmp_path):
    import os
    import stat
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    folder = tmp_path / "folder.npz"
    folder.mkdir()
    net = _trained()
    for path, kind in [(fifo, "a FIFO"), (folder, "a folder"), ("/dev/null", "a character device")]:
        with pytest.raises(ValueError, match=f"{path}: it exists and is {kind}"):
            anynet.save(net, path)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and folder.is_dir()
    with pytest.raises(ValueError, match="pipe.npz: not a regular file"):
        anynet.load(fifo)  # and loading does not block on it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.npz", "pipe.npz"]
    loop = tmp_path / "loop.npz"
    loop.symlink_to(loop)
    with pytest.raises(ValueError, match="loop.npz: .*symbolic links"):
        anynet.save(net, loop)


def test_check_target_reports_before_any_work(tmp_path):
    with pytest.raises(ValueError, match=r"cannot write checkpoint .*m.npz: folder .*missing "
                                         r"does not exist"):
        persistence.check_target(tmp_path / "missing" / "m.npz", "checkpoint")
    assert persistence.check_target(tmp_path / "m.npz") == (tmp_path / "m.npz").resolve()
    assert list(tmp_path.iterdir()) == []  # checking writes nothing


def test_a_file_name_of_250_characters_saves(tmp_path):
    path = tmp_path / ("m" * 246 + ".npz")
    anynet.save(_trained(), path)
    assert anynet.load(path).layer_sizes == (4, 8, 5, 3)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


KILLED_WRITER = """
import sys, time
import numpy as np
import anynet
from anynet import persistence
def stall(f, **arrays):
    f.write(b"half a model" * 100000)
    f.flush()
    print("writing", flush=True)
    time.sleep(60)
persistence.np.savez = stall
anynet.save(anynet.initialize_network([2, 3, 1]), sys.argv[1])
"""


def test_a_killed_writer_leaves_no_temporary_behind_the_next_save(tmp_path):
    """SIGKILL mid-write, then save again: the stale temporary goes, others stay."""
    import os
    import subprocess
    import sys
    path = tmp_path / "model.npz"
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path)],
                              stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline() == "writing\n"
    writer.kill()
    writer.wait()
    writer.stdout.close()
    stale = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(stale) == 1 and stale[0].stat().st_size == 1_200_000
    assert len(stale[0].name) < 80
    anynet.save(_trained(), path)
    assert stale[0].exists()  # written a moment ago: perhaps another machine's, kept
    old = stale[0].stat().st_mtime - 120
    os.utime(stale[0], (old, old))
    other_target = tmp_path / stale[0].name.replace("model.npz", "other.npz")
    other_target.write_bytes(b"not ours")
    os.utime(other_target, (old, old))
    anynet.save(_trained(), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model.npz",
                                                                other_target.name])


def test_the_description_size_cap(tmp_path, monkeypatch):
    """At most 64 MB of JSON are read; tried here with the cap lowered to 100 bytes."""
    path = anynet.save(_trained(), tmp_path / "model.npz")
    monkeypatch.setattr(persistence, "_MAX_DESCRIPTION", 100)
    with pytest.raises(ValueError, match=r"model.npz: cannot load: array '__anynet__' is "
                                         r"damaged \(its header claims \d+ bytes, more than "
                                         r"anynet reads \(100\)\)"):
        anynet.load(path)
    monkeypatch.undo()
    assert persistence._MAX_DESCRIPTION == 64 << 20


# --- what save writes, load reads (issue 19) ----------------------------------------

def _nested_metadata(depth):
    """A metadata dict nested ``depth`` levels deep (the dict itself is one)."""
    value = {}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_LAYERS = 6  # the layer limit, lowered for speed (load reads the same constant)
_SIZE = 4096  # the description's byte limit, lowered likewise


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(layers=st.integers(1, _LAYERS + 2), depth=st.integers(0, 66),
       extra=st.integers(-40, 40), seed=st.integers(0, 2 ** 256 + 4),
       suffix=st.sampled_from([".npz", ".safetensors"]))
def test_save_writes_only_what_load_reads_at_each_limit(tmp_path, layers, depth, extra, seed,
                                                         suffix):
    """Networks around each limit load enforces (layers, metadata depth, description
    bytes, seeds): save refuses, and leaves nothing, exactly when load would refuse
    the file; otherwise load gives back what was saved."""
    from anynet import _description
    sizes = [2] * (layers + 1)
    try:
        net = anynet.initialize_network(sizes, activation="tanh", init="xavier", seed=seed)
    except ValueError as exc:  # every seed train and initialize_network take: 256 bits
        assert seed > 2 ** 256 - 1 and "seed" in str(exc)
        return
    net.metadata = _nested_metadata(depth) if depth else {}
    path = tmp_path / f"model{suffix}"
    path.unlink(missing_ok=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_description, "MAX_LAYERS", _LAYERS)
        patch.setattr(persistence, "_MAX_DESCRIPTION", _SIZE)
        # pad the description to the byte limit, give or take ``extra``
        net.metadata["pad"] = ""
        room = _SIZE - len(json.dumps(persistence._contents(net)[0]).encode())
        net.metadata["pad"] = "x" * max(room + extra, 0)
        size = len(json.dumps(persistence._contents(net)[0]).encode())
        fits = layers <= _LAYERS and depth <= _description.MAX_DEPTH - 1 and size <= _SIZE
        try:
            anynet.save(net, path)
        except (ValueError, TypeError) as exc:
            event("refused")
            assert not fits, str(exc)
            assert str(exc).startswith(f"cannot save {path}")
            assert not path.exists()
            return
        assert fits, (layers, depth, size)
        event("saved and loaded")
        loaded = anynet.load(path)
    assert loaded.metadata == net.metadata and loaded.config == net.config
    for key in net:
        np.testing.assert_array_equal(loaded[key], net[key])


def test_the_real_limits_are_said_before_training(tmp_path):
    """10,001 layers with checkpoint= are refused before any network is built; a
    warm-started network's metadata too deep or too large, likewise."""
    path = tmp_path / "run.npz"
    with pytest.raises(ValueError, match=r"checkpoint=.*lists 10001 layers, more than anynet "
                                         r"loads \(10000\)"):
        anynet.train(X, LABELS, hidden=(1,) * 10_000, checkpoint=path, verbose=False)
    with pytest.raises(ValueError, match=r"checkpoint=.*parameters, more than anynet loads"):
        anynet.train(X, LABELS, hidden=(50_000, 50_000), checkpoint=path, verbose=False)
    net = _trained()
    net.metadata = _nested_metadata(64)
    with pytest.raises(ValueError, match="checkpoint=.*nested more than 63 levels"):
        anynet.train(X, LABELS, network=net, epochs=1, checkpoint=path, verbose=False)
    net.metadata = {"big": "x" * (64 << 20)}
    with pytest.raises(ValueError, match="checkpoint=.*more than anynet loads"):
        anynet.train(X, LABELS, network=net, epochs=1, checkpoint=path, verbose=False)
    assert not path.exists()
    net.metadata = _nested_metadata(63)  # the deepest that loads
    anynet.train(X, LABELS, network=net, epochs=1, checkpoint=path, verbose=False)
    assert anynet.load(path).metadata == net.metadata


def test_a_seed_past_2_62_trains_saves_loads_and_resumes(tmp_path):
    """SeedSequence().entropy (128 bits) and 2**256 - 1, the largest seed."""
    for seed in (2 ** 70, np.random.SeedSequence(7).entropy, 2 ** 256 - 1):
        path = tmp_path / "run.npz"
        path.unlink(missing_ok=True)
        options = dict(hidden=(4,), batch_size=8, verbose=False, seed=seed, backend="numpy")
        whole = anynet.train(X, LABELS, epochs=3, **options)
        anynet.train(X, LABELS, epochs=2, checkpoint=path, **options)
        assert anynet.load(path).config["seed"] == seed
        resumed = anynet.train(X, LABELS, epochs=3, checkpoint=path, resume=True, **options)
        np.testing.assert_array_equal(resumed["W1"], whole["W1"])
    with pytest.raises(ValueError, match=r"seed must be at most 2\*\*256 - 1"):
        anynet.train(X, LABELS, seed=2 ** 256, verbose=False, backend="numpy")
    with pytest.raises(ValueError, match="too large for init='randn'"):
        anynet.initialize_network(2, 3, 1, seed=2 ** 32)


def test_save_refuses_what_load_would_refuse(tmp_path):
    net = _trained()
    path = tmp_path / "model.npz"
    bad = net.copy()
    bad["W1"][0, 0] = np.nan
    with pytest.raises(ValueError, match="array 'W1' contains NaN or infinity"):
        anynet.save(bad, path)
    for metadata, error in ((["a list"], TypeError), ({"x": object()}, TypeError),
                            ({"n": 10 ** 5000}, TypeError)):
        net.metadata = metadata
        with pytest.raises(error, match=f"cannot save {path}"):
            anynet.save(net, path)
    assert not path.exists()
