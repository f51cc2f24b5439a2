"""Bad input: a ValueError or TypeError that names the argument, before anything changes."""
import numpy as np
import pytest

import anynet
from conftest import host

X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = np.array([[0.0], [1.0], [1.0], [0.0]])


def _net(**kw):
    return anynet.initialize_network([2, 3, 1], seed=0, **kw)


BAD_X = [
    (np.ones(4), ValueError, "X must be 2-D"),
    (np.ones((4, 3)), ValueError, "X has 3 features"),
    (np.ones((0, 2)), ValueError, "X has no samples"),
    (np.ones((2, 2, 2)), ValueError, "X must be 2-D"),
    (np.array([[0.0, np.nan]]), ValueError, "X contains NaN"),
    (np.array([[0.0, np.inf]]), ValueError, "X contains NaN or infinity"),
    (np.array([["a", "b"]]), TypeError, "X has dtype <U1"),
    (np.array([[1 + 1j, 0]]), TypeError, "X has dtype complex128"),
    (np.array([[object(), 1]], dtype=object), TypeError, "X has dtype object"),
    ([[1.0, 2.0], [3.0]], ValueError, "X cannot be read"),
    (None, TypeError, "X is None"),
]


@pytest.mark.parametrize("bad, error, message", BAD_X)
def test_bad_X_everywhere(bad, error, message):
    net = _net()
    for call in (lambda: anynet.predict(net, bad),
                 lambda: anynet.forward_propagation(net, bad),
                 lambda: anynet.train_network(bad, Y[:1], 2, 3, 1, 5, 0.1, verbose=False)):
        with pytest.raises(error, match=message):
            call()


def test_bool_and_integer_inputs_are_numbers():
    net = _net()
    as_float = anynet.predict(net, X)
    np.testing.assert_array_equal(anynet.predict(net, X.astype(int)), as_float)
    np.testing.assert_array_equal(anynet.predict(net, X.astype(bool)), as_float)
    np.testing.assert_array_equal(anynet.predict(net, X.tolist()), as_float)


@pytest.mark.parametrize("loss, bad, message", [
    ("mse", np.ones((3, 1)), "y has 3 samples but X has 4"),
    ("mse", np.ones((4, 2)), r"y must have shape \(4, 1\)"),
    ("mse", np.array([[0.0], [np.nan], [1.0], [0.0]]), "y contains NaN"),
    ("mse", np.full((4, 1), "x"), "y has dtype"),
    ("binary_cross_entropy", np.array([[0.0], [2.0], [1.0], [0.0]]), r"y must lie in \[0, 1\]"),
    ("mse", np.ones((4, 1, 1)), "y must be 1-D or 2-D"),
])
def test_bad_y(loss, bad, message):
    net = _net(loss=loss)
    _, cache = anynet.forward_propagation(net, X)
    with pytest.raises((ValueError, TypeError), match=message):
        anynet.backward_propagation(net, cache, X, bad)
    with pytest.raises((ValueError, TypeError), match=message):
        anynet.train_network(X, bad, 2, 3, 1, 5, 0.1, loss=loss, verbose=False)


@pytest.mark.parametrize("labels, message", [
    ([0, 1, 3, 0], r"class labels 0..2"),
    ([0, -1, 2, 0], r"class labels 0..2"),
    ([0, 0.5, 2, 0], r"class labels 0..2"),
    (np.array([[0.5, 0.5, 0.5]] * 4), "rows must be one-hot or sum to 1"),
    (np.array([[1.5, -0.5, 0.0]] * 4), r"must lie in \[0, 1\]"),
])
def test_bad_class_labels(labels, message):
    net = anynet.initialize_network([2, 3, 3], loss="cross_entropy")
    _, cache = anynet.forward_propagation(net, X)
    with pytest.raises(ValueError, match=message):
        anynet.backward_propagation(net, cache, X, labels)
    with pytest.raises(ValueError, match=message):
        anynet.compute_loss(labels, anynet.predict(net, X), "cross_entropy")


def test_arrays_from_two_backends_or_devices():
    torch = pytest.importorskip("torch")
    strict = pytest.importorskip("array_api_strict")
    net = _net()
    _, cache = anynet.forward_propagation(net, X)
    with pytest.raises(ValueError, match=r"y is on torch \(cpu\) but X is on array_api_strict"):
        anynet.backward_propagation(net, cache, strict.asarray(X), torch.asarray(Y))
    on_cpu = strict.asarray(X)
    on_dev1 = strict.asarray(Y, device=strict.Device("device1"))
    with pytest.raises(ValueError, match="device1"):
        anynet.train_network(on_cpu, on_dev1, 2, 3, 1, 5, 0.1, verbose=False)
    # host data mix with any backend: copied to the network's device
    anynet.backward_propagation(net, cache, torch.asarray(X), Y)


def test_bad_update_changes_nothing():
    net = _net()
    before = {k: v.copy() for k, v in net.items()}
    _, cache = anynet.forward_propagation(net, X)
    grads = anynet.backward_propagation(net, cache, X, Y)
    wrong_shape = dict(grads, db2=np.zeros((1, 2)))
    missing = {k: v for k, v in grads.items() if k != "db2"}
    cases = [(wrong_shape, ValueError, r"gradients\['db2'\] has shape \(1, 2\)"),
             (missing, ValueError, "gradients has no entry 'db2'"),
             (grads, ValueError, "learning_rate must be > 0")]
    for g, error, message in cases:
        lr = -0.1 if g is grads else 0.1
        with pytest.raises(error, match=message):
            anynet.update_parameters(net, g, lr)
        for key, value in before.items():
            np.testing.assert_array_equal(net[key], value)
    with pytest.raises(TypeError, match="learning_rate must be a real number"):
        anynet.update_parameters(net, grads, "0.1")


def test_bad_cache():
    net = _net()
    with pytest.raises(ValueError, match="cache must be the 2 layer outputs"):
        anynet.backward_propagation(net, (), X, Y)
    _, cache = anynet.forward_propagation(net, X[:2])
    with pytest.raises(ValueError, match=r"cache\[0\] should have shape \(4, 3\)"):
        anynet.backward_propagation(net, cache, X, Y)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(activation="swish"), ValueError, "activation='swish' is not a known activation"),
    (dict(activation="softmax"), ValueError, "softmax is for the output layer only"),
    (dict(output_activation="gelu"), ValueError, "output_activation='gelu'"),
    (dict(loss="hinge"), ValueError, "loss='hinge' is not a known loss"),
    (dict(loss="cross_entropy", output_activation="sigmoid"), ValueError,
     "loss='cross_entropy' needs output_activation='softmax', not 'sigmoid'"),
    (dict(loss="binary_cross_entropy", output_activation="identity"), ValueError,
     "needs output_activation='sigmoid'"),
    (dict(loss="cross_entropy"), ValueError, "softmax' needs at least 2 outputs"),
    (dict(init="orthogonal"), ValueError, "init='orthogonal' is not a known initialiser"),
    (dict(seed=-1), ValueError, "seed must be >= 0"),
    (dict(seed=1.5), TypeError, "seed must be an integer"),
    (dict(dtype="float16"), TypeError, "dtype='float16' is not supported"),
    (dict(dtype="int32"), TypeError, "dtype='int32' is not supported"),
    (dict(backend="tensorflow"), ValueError, "backend='tensorflow' is not known"),
    (dict(backend=np.linalg), TypeError, "backend must be a name or an Array API namespace"),
    (dict(device="cuda:7"), ValueError, "device='cuda:7' is not a device of backend 'numpy'"),
])
def test_bad_configuration(kwargs, error, message):
    with pytest.raises(error, match=message):
        anynet.initialize_network([2, 3, 1], **kwargs)


@pytest.mark.parametrize("sizes, error, message", [
    ([2], ValueError, "at least an input and an output"),
    ([2, 0, 1], ValueError, r"layer_sizes\[1\] must be > 0"),
    ([2, 3.5, 1], TypeError, r"layer_sizes\[1\] must be an integer"),
    (5, TypeError, "or one sequence of layer sizes"),
])
def test_bad_layer_sizes(sizes, error, message):
    with pytest.raises(error, match=message):
        anynet.initialize_network(sizes)
    with pytest.raises(TypeError, match="give input_size, hidden_size and output_size"):
        anynet.initialize_network(2, 3)


@pytest.mark.parametrize("args, error, message", [
    ((-1, 0.1), ValueError, "epochs must be >= 0"),
    ((10, -0.1), ValueError, "learning_rate must be > 0"),
    ((10, float("nan")), ValueError, "learning_rate must be > 0 and finite"),
    ((2.5, 0.1), TypeError, "epochs must be an integer"),
])
def test_bad_training_arguments(args, error, message):
    with pytest.raises(error, match=message):
        anynet.train_network(X, Y, 2, 3, 1, *args, verbose=False)


def test_not_a_network():
    with pytest.raises(TypeError, match="network must be an anynet Network"):
        anynet.predict({"W1": np.ones((2, 1)), "b1": np.zeros((1, 1))}, X)


def test_compute_loss_checks_predictions():
    with pytest.raises(ValueError, match=r"y_pred must be probabilities in \[0, 1\]"):
        anynet.compute_loss(Y, Y * 2.0, "binary_cross_entropy")
    with pytest.raises(ValueError, match="y_pred contains NaN"):
        anynet.compute_loss(Y, Y * np.nan)
    with pytest.raises(ValueError, match=r"y_true must have shape \(4, 1\)"):
        anynet.compute_loss(np.ones((4, 2)), Y)
    with pytest.raises(ValueError, match="loss='l1' is not a known loss"):
        anynet.compute_loss(Y, Y, "l1")


def test_bad_input_on_the_device(xp_backend):
    """The same checks on data that already live on the backend's device."""
    xp, dev = xp_backend.xp, xp_backend.device
    net = anynet.initialize_network([2, 3, 1], backend=xp_backend)
    before = {k: host(v) for k, v in net.items()}
    with pytest.raises(ValueError, match="X contains NaN"):
        anynet.predict(net, xp.asarray(np.array([[np.nan, 0.0]]), device=dev))
    with pytest.raises(ValueError, match="X has 3 features"):
        anynet.predict(net, xp.asarray(np.ones((2, 3)), device=dev))
    _, cache = anynet.forward_propagation(net, X)
    with pytest.raises(ValueError, match="y contains NaN"):
        anynet.backward_propagation(net, cache, X, xp.asarray(Y * np.nan, device=dev))
    for key, value in before.items():
        np.testing.assert_array_equal(host(net[key]), value)


# --- the errors the README promises: each names its argument (issue 19) -------------------

def _torch():
    return pytest.importorskip("torch")


RNG = np.random.default_rng(19)
XS = RNG.standard_normal((24, 3))
YS = np.arange(24) % 3


def _masked(a, where):
    return np.ma.masked_array(a, mask=where)


def _sparse_csr(t, a):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch: "CSR support is in beta"
        return t.tensor(a).to_sparse_csr()


PROMISED = {  # name: (train's arguments, error, message)
    "meta X": (lambda t: dict(X=t.empty(24, 3, device="meta")), ValueError,
               "X is a torch tensor on the meta device"),
    "meta y": (lambda t: dict(y=t.empty(24, device="meta")), ValueError,
               "y is a torch tensor on the meta device"),
    "meta device": (lambda t: dict(backend="torch", device="meta"), ValueError,
                    "device=.*meta.* holds no data"),
    "masked X": (lambda t: dict(X=_masked(XS, XS > 1.5)), ValueError,
                 r"X is a masked array with \d+ masked values"),
    "masked y": (lambda t: dict(y=_masked(YS, YS == 2)), ValueError,
                 "y is a masked array with 8 masked values"),
    "masked sample_weight": (lambda t: dict(sample_weight=_masked(np.ones(24), YS == 0)),
                             ValueError, "sample_weight is a masked array"),
    "masked X_val": (lambda t: dict(validation_data=(_masked(XS, XS > 1.5), YS)), ValueError,
                     "X_val is a masked array"),
    "ragged X": (lambda t: dict(X=[[1.0, 2.0, 3.0]] * 23 + [[1.0]]), ValueError,
                 "X cannot be read as an array: its rows differ in length"),
    "ragged y": (lambda t: dict(y=[[0]] * 23 + [[0, 1]]), ValueError,
                 "y cannot be read as an array"),
    "torch sparse coo X": (lambda t: dict(X=t.tensor(XS).to_sparse()), TypeError,
                           "X is a torch tensor of layout torch.sparse_coo"),
    "torch sparse csr X": (lambda t: dict(X=_sparse_csr(t, XS), backend="torch"),
                           TypeError, "X is a torch tensor of layout torch.sparse_csr"),
    "shuffle='no'": (lambda t: dict(shuffle="no"), TypeError, "shuffle must be True, False or a"),
    "shuffle=1": (lambda t: dict(shuffle=1), TypeError, "shuffle must be True, False or a"),
    "resume='yes'": (lambda t: dict(resume="yes"), TypeError, "resume must be True or False"),
    "checkpoint=''": (lambda t: dict(checkpoint=""), ValueError, "checkpoint='' names no file"),
    "checkpoint=5": (lambda t: dict(checkpoint=5), TypeError, "checkpoint must be a file name"),
    "callbacks=f": (lambda t: dict(callbacks=lambda e, h, n: None), TypeError,
                    r"callbacks must be a list of callables.*callbacks=\[f\]"),
    "callbacks='f'": (lambda t: dict(callbacks="f"), TypeError, "callbacks must be a list"),
    "callbacks=5": (lambda t: dict(callbacks=5), TypeError, "callbacks must be a list"),
    "schedule gives None": (lambda t: dict(lr_schedule=lambda e, lr, h: None), TypeError,
                            "lr_schedule returned None at epoch 0"),
    "schedule gives text": (lambda t: dict(lr_schedule=lambda e, lr, h: "fast"), TypeError,
                            "lr_schedule returned 'fast' at epoch 0"),
    "schedule gives True": (lambda t: dict(lr_schedule=lambda e, lr, h: True), TypeError,
                            "lr_schedule returned True"),
    "schedule gives 0": (lambda t: dict(lr_schedule=lambda e, lr, h: 0.0), ValueError,
                         "lr_schedule gave learning rate 0.0 at epoch 0"),
    "hidden=(2**40,)": (lambda t: dict(hidden=(2 ** 40,)), ValueError,
                        r"hidden=\(1099511627776,\): training a 3-1099511627776-3 network "
                        r"\(.* parameters.*\) would need about .* TiB, more than"),
}


@pytest.mark.parametrize("case", sorted(PROMISED))
def test_promised_errors_name_their_argument(case):
    needs_torch = "torch" in case or "meta" in case
    t = _torch() if needs_torch else None
    make, error, message = PROMISED[case]
    args = dict(X=XS, y=YS, hidden=(4,), epochs=1, backend="numpy", verbose=False)
    args.update(make(t))
    net = anynet.train(XS, YS, hidden=(4,), epochs=1, backend="numpy", verbose=False)
    before = {k: host(v) for k, v in net.items()}
    with pytest.raises(error, match=message):
        anynet.train(args.pop("X"), args.pop("y"), **args)
    if "device" in args or "backend" in args or "hidden" in args:
        return
    with pytest.raises(error, match=message):  # a warm start is refused alike, unchanged
        anynet.train(args.pop("X", XS), args.pop("y", YS), network=net,
                     **{k: v for k, v in args.items() if k not in ("hidden", "backend")})
    for key, value in before.items():
        np.testing.assert_array_equal(host(net[key]), value)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_predict_refuses_what_it_cannot_read(backend):
    t = _torch()
    net = anynet.train(XS, YS, hidden=(4,), epochs=1, backend=backend, verbose=False)
    for bad, error, message in [
            (t.empty(5, 3, device="meta"), ValueError, "X is a torch tensor on the meta"),
            (t.tensor(XS).to_sparse(), TypeError, "X is a torch tensor of layout"),
            (_masked(XS, XS > 1.5), ValueError, "X is a masked array"),
            ([[1.0, 2.0, 3.0], [1.0]], ValueError, "X cannot be read as an array")]:
        for call in (net.predict, net.predict_classes, lambda X: anynet.predict(net, X),
                     lambda X: net.score(X, YS[:len(X)] if hasattr(X, "__len__") else YS)):
            with pytest.raises(error, match=message):
                call(bad)
    # a masked array with nothing masked is its data
    np.testing.assert_array_equal(host(net.predict(_masked(XS, np.zeros_like(XS, bool)))),
                                  host(net.predict(XS)))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_bfloat16_tensors_are_read_as_float32_exactly(backend):
    t = _torch()
    Xb = t.tensor(XS, dtype=t.bfloat16)
    yb = t.tensor(XS @ [1.0, -2.0, 0.5], dtype=t.bfloat16)  # a regression target too
    same = dict(hidden=(4,), epochs=2, backend=backend, dtype="float64", verbose=False)
    got = anynet.train(Xb, yb, **same)
    want = anynet.train(Xb.float().numpy(), yb.float().numpy(), **same)
    for key, value in want.items():
        np.testing.assert_array_equal(host(got[key]), host(value))
    np.testing.assert_array_equal(host(got.predict(Xb)), host(want.predict(Xb.float())))


def test_cupy_without_a_gpu_is_a_value_error():
    from anynet._backend import cuda_unavailable_reason
    if cuda_unavailable_reason() is None:
        pytest.skip("a CUDA device is usable here")
    for call in (lambda: anynet.train(XS, YS, backend="cupy", verbose=False),
                 lambda: anynet.initialize_network([2, 2, 1], backend="cupy")):
        with pytest.raises(ValueError, match="backend='cupy' cannot run"):
            call()


@pytest.fixture
def memory(monkeypatch):
    """Set the memory the device has available (None: it cannot be told)."""
    def set_available(nbytes):
        monkeypatch.setattr("anynet._backend.available_memory", lambda backend: nbytes)
    return set_available


def test_class_labels_become_one_hot_rows_batch_by_batch():
    """3,000 classes of 3,000 samples: a whole one-hot array would take 36 MB (and
    its bool comparison 9 MB more); each batch's takes 2.4 MB."""
    import tracemalloc
    n = 3000
    X, y = np.random.default_rng(0).standard_normal((n, 1)), np.arange(n)
    tracemalloc.start()
    try:
        net = anynet.train(X, y, hidden=(2,), epochs=1, backend="numpy", verbose=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert net.layer_sizes == (1, 2, n) and peak < 20e6, peak


def test_memory_is_estimated_before_allocating(memory):
    memory(64 << 20)  # 64 MiB
    labels = dict(X=np.zeros((20000, 1)), y=np.arange(20000))
    with pytest.raises(ValueError, match=r"y_val's one-hot rows \(20,000 samples x 20,000 "
                                         r"classes\) would need about 1.9 GiB, more than "
                                         r"the 64.0 MiB available"):
        anynet.train(**labels, hidden=(2,), epochs=1, backend="numpy", verbose=False,
                     validation_data=(labels["X"], labels["y"]))
    with pytest.raises(ValueError, match=r"y's one-hot rows \(20,000 samples x 20,000 "):
        anynet.train(**labels, hidden=(2,), epochs=1, backend="numpy", verbose=False,
                     optimizer="lbfgs")  # L-BFGS takes the whole dataset at once
    with pytest.raises(ValueError, match=r"hidden=\(4000, 4000\): training a 3-4000-4000-3 "
                                         r"network \(16,032,003 parameters"):
        anynet.train(XS, YS, hidden=(4000, 4000), epochs=1, backend="numpy", verbose=False)
    with pytest.raises(ValueError, match=r"a 3-4000-4000-3 network \(16,032,003 parameters\) "
                                         r"would need about 244.6 MiB"):
        anynet.initialize_network([3, 4000, 4000, 3])
    anynet.train(XS, YS, hidden=(400,), epochs=1, backend="numpy", verbose=False)  # fits
    memory(None)  # nothing known: nothing refused
    anynet.initialize_network([3, 4000, 4000, 3], dtype="float32")


def test_the_available_memory_is_read():
    from anynet._backend import available_memory, resolve_backend
    for name in ("numpy", "torch"):
        if name == "torch":
            _torch()
        available = available_memory(resolve_backend(name))
        assert available is None or available > 0


@pytest.mark.parametrize("y", [np.zeros(24), np.ones(24), np.full(24, 2), np.zeros(24, int),
                               np.zeros(24, bool), np.array(["a"] * 24), np.zeros((24, 1)),
                               np.full(24, -1.0).astype(int)])
def test_one_rule_for_a_single_class(y):
    """Classes read from y need two of them, whatever the one is; a loss named by the
    caller fixes them instead: binary cross-entropy's are (0, 1)."""
    value = y.reshape(-1)[0].item()
    with pytest.raises(ValueError, match=f"y has a single class \\({value!r}\\); a "
                                         f"classifier needs at least 2"):
        anynet.train(XS, y, hidden=(4,), epochs=1, backend="numpy", verbose=False)
    if value in (0, 1):
        net = anynet.train(XS, y, loss="binary_cross_entropy", hidden=(4,), epochs=1,
                           backend="numpy", verbose=False)
        assert net.classes == (0, 1)
    else:
        with pytest.raises(ValueError):
            anynet.train(XS, y, loss="cross_entropy", hidden=(4,), epochs=1,
                         backend="numpy", verbose=False)


def test_two_classes_and_multilabel_columns_still_train():
    for y in (np.arange(24) % 2, (np.arange(24) % 2).astype(float), np.zeros((24, 2))):
        net = anynet.train(XS, y, hidden=(4,), epochs=1, backend="numpy", verbose=False)
        assert net.loss == "binary_cross_entropy" and net.classes == (0, 1)


def test_load_says_when_it_may_not_read_the_file(tmp_path, monkeypatch):
    import builtins
    import os
    net = anynet.train(XS, YS, hidden=(4,), epochs=1, backend="numpy", verbose=False)
    path = anynet.save(net, tmp_path / "m.npz")
    path.chmod(0)
    if os.geteuid() == 0:  # root reads any file: the system's refusal, as a user meets it
        real_open, real_os_open = builtins.open, os.open

        def refuse(opener):
            def open_(file, *args, **kwargs):
                if os.fspath(file) == os.fspath(path):
                    raise PermissionError(13, "Permission denied", os.fspath(path))
                return opener(file, *args, **kwargs)
            return open_
        monkeypatch.setattr(builtins, "open", refuse(real_open))
        monkeypatch.setattr(os, "open", refuse(real_os_open))
    with pytest.raises(ValueError, match=f"^{path}: cannot (read|open) it: Permission denied$"):
        anynet.load(path)


def test_lbfgs_on_a_sparse_x_is_estimated_by_its_dense_chunks(monkeypatch):
    """L-BFGS makes a sparse X dense CHUNK_ROWS rows at a time: its estimate counts one
    chunk's activations, not the whole X made dense (200,000 x 50,000 would be 75 GiB)."""
    sp = pytest.importorskip("scipy.sparse")
    from anynet import _checks
    rng = np.random.default_rng(0)
    n, f = 200_000, 50_000
    cols = rng.integers(0, f, size=n)
    X = sp.csr_matrix((rng.random(n) + 0.5, (np.arange(n), cols)), shape=(n, f))
    estimates = []

    class Estimated(Exception):
        pass

    def record(backend, nbytes, what, advice):
        estimates.append(nbytes)
        raise Estimated

    monkeypatch.setattr(_checks, "fits_in_memory", record)
    for optimizer in ("lbfgs", "adam"):
        with pytest.raises(Estimated):
            anynet.train(X, cols % 2, hidden=(10,), epochs=1, optimizer=optimizer,
                         batch_size=256, verbose=False, backend="numpy")
    chunk = 2 * _checks.CHUNK_ROWS * (f + 10 + 1) * 4
    assert chunk < estimates[0] < chunk + (1 << 30) and estimates[1] < estimates[0]
