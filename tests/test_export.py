"""ONNX export: every graph runs in ONNX Runtime and gives the model's own predictions.

Tolerances: float32 graphs within 1e-5 of the output's scale (its largest
absolute value), float64 graphs of float64 models within 1e-12; every graph
passes ``onnx.checker`` in full mode (``to_onnx`` runs it; checked here too).
"""
import subprocess
import sys
import warnings

import numpy as np
import pytest

import anynet
from anynet import activations
from anynet._backend import to_numpy
from anynet.tasks import TABLE
from conftest import blobs

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

HIDDEN = [a for a in activations.ACTIVATIONS if a not in activations.OUTPUT_ONLY]
# every loss of the table; the 0/1 losses with one output and multi-label (3)
TASKS = [(loss, n) for loss in TABLE
         for n in ((1, 3) if TABLE[loss].classes_by == "threshold" else (3,))]


def run(proto, X, dtype=None):
    """Every output of ``proto`` for X (cast to the graph's input type)."""
    session = ort.InferenceSession(proto.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    x = session.get_inputs()[0]
    dtype = dtype or {"tensor(float)": np.float32, "tensor(double)": np.float64}[x.type]
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {x.name: np.asarray(X).astype(dtype)})))


def assert_close(got, want, tolerance):
    """|got - want| <= tolerance * the output's scale."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = max(float(np.max(np.abs(want))), 1e-300)
    error = float(np.max(np.abs(got - want))) / scale
    assert error <= tolerance, f"{error:.3g} of the scale {scale:.3g} > {tolerance:g}"


def tolerance(graph_dtype, model_dtype):
    return 1e-12 if graph_dtype == model_dtype == "float64" else 1e-5


def features(n, n_features, seed=0):
    """Raw features far from standardised: a mean of 3 and a scale of 5."""
    return 3.0 + 5.0 * np.random.default_rng(seed).standard_normal((n, n_features))


def network(loss, n_outputs, activation, dtype="float64", sizes=(4, 6, 5), seed=0):
    return anynet.initialize_network([*sizes, n_outputs], activation=activation, loss=loss,
                                     init="xavier", dtype=dtype, seed=seed)


def scaled(net, inputs, targets, seed=1):
    """``net`` with input scaling and (a hand-set) target scaling, drawn at random."""
    rng = np.random.default_rng(seed)
    n_in, n_out = net.layer_sizes[0], net.layer_sizes[-1]
    xp = net.xp
    if inputs:
        net.input_scaling = (xp.asarray(3.0 + rng.standard_normal((1, n_in)), dtype=net.dtype),
                             xp.asarray(rng.uniform(2.0, 8.0, (1, n_in)), dtype=net.dtype))
    if targets:
        net.target_scaling = (xp.asarray(rng.uniform(-50, 50, (1, n_out)), dtype=net.dtype),
                              xp.asarray(rng.uniform(10, 100, (1, n_out)), dtype=net.dtype))
    return net


def expected(net, X):
    """What ``net.predict`` gives, with its target scaling: applied here from the raw
    outputs, so the test holds before and after Network learns target_scaling."""
    scaling = getattr(net, "target_scaling", None)
    net.target_scaling = None
    try:
        P = to_numpy(net.predict(X))
    finally:
        net.target_scaling = scaling
    if scaling is not None:
        mean, scale = (to_numpy(a) for a in scaling)
        P = P * scale + mean
    return P


# --- networks: every task, activation, scaling, batch size, dtype ------------------------

@pytest.mark.parametrize("loss, n_outputs", TASKS)
@pytest.mark.parametrize("activation", HIDDEN)
def test_every_task_and_activation_gives_predict(loss, n_outputs, activation):
    """Scaling off, then input and target scaling on; batches of 1000 and of 1."""
    X = features(1000, 4)
    for model_dtype, graph_dtype in (("float32", "float32"), ("float64", "float32"),
                                     ("float64", "float64")):
        for on in (False, True):
            net = scaled(network(loss, n_outputs, activation, model_dtype), on, on)
            want = expected(net, X)
            proto = anynet.to_onnx(net, dtype=graph_dtype)
            got = run(proto, X)["output"]
            assert got.dtype == np.dtype(graph_dtype)
            assert_close(got, want, tolerance(graph_dtype, model_dtype))
            assert_close(run(proto, X[:1])["output"], want[:1],
                         tolerance(graph_dtype, model_dtype))


def test_input_and_target_scaling_each_alone():
    X = features(300, 4)
    for inputs, targets in ((True, False), (False, True)):
        net = scaled(network("mse", 2, "tanh"), inputs, targets)
        assert_close(run(anynet.to_onnx(net, dtype="float64"), X)["output"],
                     expected(net, X), 1e-12)


def test_the_graph_passes_the_full_checker_and_has_a_dynamic_batch():
    net = scaled(network("cross_entropy", 3, "relu"), True, True)
    proto = anynet.to_onnx(net)
    onnx.checker.check_model(proto, full_check=True)
    (x,), (y,) = proto.graph.input, proto.graph.output
    assert (x.name, y.name) == ("X", "output")
    assert x.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    dims = [d.dim_param or d.dim_value for d in x.type.tensor_type.shape.dim]
    assert dims == ["N", 4]
    assert x.doc_string and y.doc_string
    assert proto.opset_import[0].version == 17
    for n in (1, 7, 1000):
        assert run(proto, features(n, 4))["output"].shape == (n, 3)


def test_the_tutorials_sigmoid_network_keeps_small_probabilities():
    """anynet's sigmoid output never rounds to 0 (its clamp); ONNX Runtime's Sigmoid would."""
    net = anynet.initialize_network(2, 3, 1)  # the tutorial's: sigmoid, then sigmoid
    net["W2"] = net["W2"] * 0.0 - 100.0
    X = np.ones((3, 2))
    proto = anynet.to_onnx(net)
    ops = [node.op_type for node in proto.graph.node]
    assert ops.count("Sigmoid") == 1 and ops.count("Min") == 1  # hidden: ONNX's; output: ours
    got = run(proto, X)["output"]
    assert np.all(got > 0)
    assert_close(got, to_numpy(net.predict(X)), 1e-5)


def test_networks_trained_on_every_backend(xp_backend, monkeypatch):
    """Trained where they live (float64 where the library has it), exported from there,
    each array read to the host once, explicitly."""
    X, y = blobs(n=64, n_features=4)
    X = 3.0 + 5.0 * X
    dtype = "float32" if xp_backend.name == "cupy_like" else "float64"
    # one batch of all the rows: JAX compiles one step, not a second for a partial batch
    net = anynet.train(X, y, hidden=(6, 5), epochs=2, batch_size=64, backend=xp_backend,
                       dtype=dtype, standardize=True, verbose=False)
    want = to_numpy(net.predict(X))
    from anynet import export
    reads = []
    monkeypatch.setattr(export, "to_numpy", lambda a: reads.append(a) or to_numpy(a))
    for graph_dtype in ("float32", "float64"):
        assert_close(run(anynet.to_onnx(net, dtype=graph_dtype), X)["output"], want,
                     tolerance(graph_dtype, dtype))
    # per export: W1, b1, W2, b2, W3, b3, the input's mean and scale
    assert len(reads) == 2 * 8
    # the network is untouched: still on its device, still predicting the same
    np.testing.assert_array_equal(to_numpy(net.predict(X)), want)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_saved_loaded_and_checkpointed_networks_export(tmp_path, loss):
    X, y = blobs(n=60)
    y = y if loss == "cross_entropy" else X @ np.arange(4.0)
    checkpoint = tmp_path / "run.npz"
    net = anynet.train(X, y, hidden=(5,), epochs=2, backend="numpy", dtype="float64",
                       standardize=True, verbose=False, checkpoint=checkpoint, loss=loss)
    anynet.save(net, tmp_path / "m.npz")
    for source in (anynet.load(tmp_path / "m.npz"), anynet.load(checkpoint)):
        assert_close(run(anynet.to_onnx(source, dtype="float64"), X)["output"],
                     to_numpy(source.predict(X)), 1e-12)


# --- hypothesis: random architectures -------------------------------------------------------

def test_random_architectures():
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies

    @hypothesis.settings(max_examples=30, deadline=None, derandomize=True)
    @hypothesis.given(hidden=st.lists(st.integers(1, 9), min_size=0, max_size=3),
                      n_in=st.integers(1, 6), task=st.sampled_from(TASKS),
                      activation=st.sampled_from(HIDDEN), n_rows=st.integers(1, 40),
                      inputs=st.booleans(), targets=st.booleans(),
                      dtype=st.sampled_from(["float32", "float64"]),
                      seed=st.integers(0, 2 ** 16))
    def check(hidden, n_in, task, activation, n_rows, inputs, targets, dtype, seed):
        loss, n_out = task
        if loss == "cross_entropy":
            n_out = max(n_out, 2)
        net = scaled(network(loss, n_out, activation, dtype, (n_in, *hidden), seed),
                     inputs, targets, seed)
        X = features(n_rows, n_in, seed)
        assert_close(run(anynet.to_onnx(net, dtype=dtype), X)["output"], expected(net, X),
                     tolerance(dtype, dtype))

    check()


# --- metadata --------------------------------------------------------------------------------

def test_metadata_names_version_task_classes_and_features():
    import json
    X, y = blobs(n=60)
    labels = np.array(["cat", "dog", "emu"])[y]
    net = anynet.train(X, labels, hidden=(5,), epochs=1, backend="numpy", verbose=False)
    net.metadata = {"features": ["a", "b", "c", "d"]}
    meta = {p.key: p.value for p in anynet.to_onnx(net).metadata_props}
    assert meta["anynet_version"] == anynet.__version__
    assert json.loads(meta["classes"]) == ["cat", "dog", "emu"]
    assert json.loads(meta["feature_names"]) == ["a", "b", "c", "d"]
    task = json.loads(meta["task"])
    assert (task["loss"], task["output_activation"], task["n_outputs"]) == \
        ("cross_entropy", "softmax", 3)
    regressor = anynet.initialize_network(3, 4, 2, loss="mse", activation="relu")
    meta = {p.key: p.value for p in anynet.to_onnx(regressor).metadata_props}
    assert "classes" not in meta and "feature_names" not in meta
    assert json.loads(meta["task"])["classifier"] is False


# --- refusals: each before any file changes ---------------------------------------------------

def test_an_activation_without_an_onnx_form_is_refused(monkeypatch, tmp_path):
    def swish(xp, z):
        return z * activations.sigmoid(xp, z)
    monkeypatch.setitem(activations.ACTIVATIONS, "swish", (swish, None))
    net = anynet.initialize_network(3, 4, 2, activation="swish", loss="mse")
    target = tmp_path / "m.onnx"
    target.write_bytes(b"keep")
    with pytest.raises(ValueError, match="'swish' has no ONNX form"):
        anynet.to_onnx(net, target)
    assert target.read_bytes() == b"keep"
    # a known name whose function was swapped is refused too
    net = anynet.initialize_network(3, 4, 2, activation="relu", loss="mse")
    W, b, _, backward = net.layers[0]
    net.layers = ((W, b, swish, backward),) + net.layers[1:]
    with pytest.raises(ValueError, match="'relu' has no ONNX form"):
        anynet.to_onnx(net)


@pytest.mark.parametrize("opset, error, message", [
    (8, ValueError, "opset=8 is too old for this graph; anynet writes opset 9"),
    (6, ValueError, "Gemm needs opset 7"),
    (10 ** 4, ValueError, "newer than the installed onnx"),
    ("17", TypeError, "opset must be an int"),
    (True, TypeError, "opset must be an int"),
])
def test_bad_opsets_are_refused(tmp_path, opset, error, message):
    net = scaled(network("cross_entropy", 3, "sigmoid"), True, False)
    with pytest.raises(error, match=message):
        anynet.to_onnx(net, tmp_path / "m.onnx", opset=opset)
    assert not (tmp_path / "m.onnx").exists()


def test_every_opset_from_the_oldest_runs():
    net = scaled(network("cross_entropy", 3, "leaky_relu"), True, True)
    X = features(50, 4)
    for opset in (9, 13, 17, 21):
        proto = anynet.to_onnx(net, opset=opset, dtype="float64")
        assert proto.opset_import[0].version == opset
        assert_close(run(proto, X)["output"], expected(net, X), 1e-12)


@pytest.mark.parametrize("dtype", ["float16", "int64", "double precision", 3])
def test_bad_dtypes_are_refused(dtype):
    with pytest.raises(TypeError, match="dtype must be 'float32' or 'float64'"):
        anynet.to_onnx(network("mse", 1, "relu"), dtype=dtype)


@pytest.mark.parametrize("where, value, name", [
    ("W2", 1e39, "W2"), ("b1", -3.5e38, "b1"), ("input.mean", 1e40, "input mean"),
    ("input.scale", 1e-46, "input scale"), ("input.scale", 1e-40, "input scale"),
    ("target.scale", 1e39, "target scale")])
def test_values_beyond_float32_are_refused_not_exported_as_inf(where, value, name):
    """A float64 network exported as float32 is checked after the cast, as ``load``
    checks: a 1e39 weight (inf) or a 1e-46 scale (0) would make the graph disagree with
    ``predict`` in silence. In float64 the same network exports and agrees."""
    net = scaled(network("mse", 1, "tanh"), inputs=True, targets=True)
    if where.startswith(("input", "target")):
        which = net.input_scaling if where.startswith("input") else net.target_scaling
        which[0 if where.endswith("mean") else 1][0, 0] = value
    else:
        net[where][0, 0] = value
    with pytest.raises(ValueError, match=f"the network's {name} holds values that are not "
                                         f"finite.* in float32.*dtype='float64'"):
        anynet.to_onnx(net)
    X = np.random.default_rng(3).standard_normal((5, 4))
    assert_close(run(anynet.to_onnx(net, dtype="float64"), X)["output"], expected(net, X), 1e-12)


def test_what_is_not_a_model_is_refused():
    with pytest.raises(TypeError, match="anynet Network"):
        anynet.to_onnx({"W1": np.ones((2, 2))})
    sklearn_nn = pytest.importorskip("sklearn.neural_network")
    with pytest.raises(TypeError, match="skl2onnx"):
        anynet.to_onnx(sklearn_nn.MLPClassifier())
    from anynet.sklearn import MLPClassifier
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        anynet.to_onnx(MLPClassifier())


def test_onnx_missing_is_a_clear_error_naming_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)
    net = network("mse", 1, "relu")
    for error in (ImportError, ValueError):
        with pytest.raises(error, match=r'anynet-mlp\[onnx\]'):
            anynet.to_onnx(net, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_weights_over_protobufs_limit_are_refused(monkeypatch):
    from anynet import export
    net = network("mse", 1, "relu")  # 4-6-5-1: 71 parameters, 284 bytes in float32
    monkeypatch.setattr(export, "_PROTOBUF_LIMIT", 300)
    anynet.to_onnx(net)
    with pytest.raises(ValueError, match="one ONNX file holds less than 2 GiB"):
        anynet.to_onnx(net, dtype="float64")


def test_paths_that_cannot_be_written_are_refused_before_any_work(tmp_path):
    net = network("mse", 1, "relu")
    with pytest.raises(ValueError, match="is a folder"):
        anynet.to_onnx(net, tmp_path)
    with pytest.raises(ValueError, match="does not exist"):
        anynet.to_onnx(net, tmp_path / "no" / "m.onnx")


def test_writing_is_atomic_and_round_trips(tmp_path):
    net = scaled(network("cross_entropy", 3, "tanh"), True, False)
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    proto = anynet.to_onnx(net, path)
    assert path.read_bytes() == proto.SerializeToString()
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temporary left
    assert_close(run(onnx.load(path), features(20, 4))["output"],
                 expected(net, features(20, 4)), 1e-5)


# --- check_onnx ----------------------------------------------------------------------------

def test_check_onnx_reports_agreement_and_catches_a_changed_graph(tmp_path):
    net = scaled(network("cross_entropy", 3, "relu"), True, False)
    X = features(100, 4)
    proto = anynet.to_onnx(net, tmp_path / "m.onnx", dtype="float64")
    report = anynet.check_onnx(net, tmp_path / "m.onnx", X)
    assert report["output"] <= 1e-12
    assert anynet.check_onnx(net, proto.SerializeToString(), X)["output"] <= 1e-12
    weights = next(t for t in proto.graph.initializer if t.name == "W1")
    array = onnx.numpy_helper.to_array(weights).copy()
    array[0, 0] += 0.5
    weights.CopyFrom(onnx.numpy_helper.from_array(array, "W1"))
    with pytest.raises(ValueError, match="'output' differs"):
        anynet.check_onnx(net, proto, X)


def test_check_onnx_forgives_labels_only_at_ties():
    from anynet.export import _label_mismatches
    P = np.array([[0.5, 0.5 + 1e-7], [0.1, 0.9]])
    assert _label_mismatches(np.array([1, 1]), np.array([0, 1]), P, 1e-5) == 1
    with pytest.raises(ValueError, match="not all of them ties"):
        _label_mismatches(np.array([1, 0]), np.array([1, 1]), P, 1e-5)
    multilabel = np.array([[0.5 + 1e-7, 0.9]])
    assert _label_mismatches(np.array([[0, 1]]), np.array([[1, 1]]), multilabel, 1e-5) == 1
    with pytest.raises(ValueError, match="not all of them ties"):
        _label_mismatches(np.array([[1, 0]]), np.array([[1, 1]]), multilabel, 1e-5)


# --- the estimators ------------------------------------------------------------------------

def _fit(estimator, X, y):
    from sklearn.exceptions import ConvergenceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


def _classification_targets():
    X, y = blobs(n=120, n_features=4)
    return X, {"binary-strings": np.array(["no", "yes"])[(y > 0).astype(int)],
               "multiclass-ints": y * 10 - 7,
               "booleans": y == 1,
               "multilabel": np.stack([y == 0, y == 1, X[:, 0] > 0], axis=1).astype(int)}


@pytest.mark.parametrize("target", ["binary-strings", "multiclass-ints", "booleans",
                                    "multilabel"])
@pytest.mark.parametrize("fit_dtype", ["float32", "float64"])
def test_classifiers_give_predict_and_predict_proba(target, fit_dtype):
    from anynet.sklearn import MLPClassifier
    X, targets = _classification_targets()
    X = X.astype(fit_dtype)
    clf = _fit(MLPClassifier((7, 5), activation="tanh", max_iter=20, random_state=0),
               X, targets[target])
    for graph_dtype in ("float32", "float64"):
        proto = anynet.to_onnx(clf, dtype=graph_dtype)
        assert [o.name for o in proto.graph.output] == ["label", "probabilities"]
        for rows in (slice(0, 1), slice(None)):
            out = run(proto, X[rows])
            assert_close(out["probabilities"], clf.predict_proba(X[rows]),
                         tolerance(graph_dtype, fit_dtype))
            np.testing.assert_array_equal(out["label"], clf.predict(X[rows]))
        report = anynet.check_onnx(clf, proto, X)
        assert report["label"] == 0


@pytest.mark.parametrize("loss, n_targets", [("squared_error", 1), ("squared_error", 2),
                                             ("poisson", 1)])
def test_regressors_give_predict(loss, n_targets):
    from anynet.sklearn import MLPRegressor
    X, _ = blobs(n=120, n_features=4)
    y = np.exp(X[:, :n_targets] / 2)
    reg = _fit(MLPRegressor(loss=loss, hidden_layer_sizes=(6,), activation="logistic",
                            max_iter=20, random_state=0), X, y[:, 0] if n_targets == 1 else y)
    proto = anynet.to_onnx(reg, dtype="float64")
    out = run(proto, X)["variable"]
    assert out.shape == (120, n_targets)
    assert_close(out, reg.predict(X).reshape(120, -1), 1e-12)
    assert anynet.check_onnx(reg, anynet.to_onnx(reg), X)["variable"] <= 1e-5


def test_estimators_fitted_on_torch_under_array_api_dispatch():
    """Their coefs_ are torch tensors: read to the host by the export."""
    torch = pytest.importorskip("torch")
    import sklearn
    from anynet.sklearn import MLPClassifier, MLPRegressor
    X, y = blobs(n=80)
    with sklearn.config_context(array_api_dispatch=True):
        Xt = torch.asarray(X)
        clf = _fit(MLPClassifier((5,), max_iter=10, random_state=0), Xt, torch.asarray(y))
        reg = _fit(MLPRegressor(hidden_layer_sizes=(5,), max_iter=10, random_state=0), Xt,
                   torch.asarray(X[:, 0]))
        assert isinstance(clf.coefs_[0], torch.Tensor)
        report = anynet.check_onnx(clf, anynet.to_onnx(clf, dtype="float64"), Xt)
        assert report["probabilities"] <= 1e-12 and report["label"] == 0
        report = anynet.check_onnx(reg, anynet.to_onnx(reg, dtype="float64"), Xt)
        assert report["variable"] <= 1e-12


def test_estimator_metadata_has_its_feature_names():
    import json
    pd = pytest.importorskip("pandas")
    from anynet.sklearn import MLPClassifier
    X, y = blobs(n=60)
    frame = pd.DataFrame(X, columns=["w", "x", "y", "z"])
    clf = _fit(MLPClassifier((4,), max_iter=5, random_state=0), frame, y)
    meta = {p.key: p.value for p in anynet.to_onnx(clf).metadata_props}
    assert json.loads(meta["feature_names"]) == ["w", "x", "y", "z"]
    assert json.loads(meta["classes"]) == [0, 1, 2]


# --- skl2onnx ------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["binary-strings", "multiclass-ints", "booleans",
                                    "multilabel"])
def test_skl2onnx_converts_a_pipeline_holding_the_classifier(target):
    skl2onnx = pytest.importorskip("skl2onnx")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from anynet.sklearn import MLPClassifier
    X, targets = _classification_targets()
    X = 3.0 + 5.0 * X
    pipe = _fit(make_pipeline(StandardScaler(), MLPClassifier((6,), max_iter=20,
                                                              random_state=0)),
                X, targets[target])
    clf = pipe[-1]
    plain = skl2onnx.to_onnx(pipe, X[:1].astype(np.float32),
                             options={id(clf): {"zipmap": False}})
    out = run(plain, X)
    assert_close(out["probabilities"], pipe.predict_proba(X), 1e-5)
    np.testing.assert_array_equal(out["label"], pipe.predict(X))
    zipped = run(skl2onnx.to_onnx(pipe, X[:1].astype(np.float32)), X[:3])
    assert list(zipped["output_probability"][0]) == clf.classes_.tolist()
    np.testing.assert_array_equal(zipped["output_label"], pipe.predict(X[:3]))


def test_skl2onnx_converts_a_pipeline_holding_the_regressor_in_float64():
    skl2onnx = pytest.importorskip("skl2onnx")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from anynet.sklearn import MLPRegressor
    X, _ = blobs(n=100)
    pipe = _fit(make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(5,),
                                                             max_iter=20, random_state=0)),
                X, X[:, 0] ** 2)
    out = run(skl2onnx.to_onnx(pipe, X[:1]), X)
    (variable,) = out.values()
    assert_close(variable.ravel(), pipe.predict(X), 1e-12)


def test_registering_with_skl2onnx_waits_for_its_import():
    """Using the estimators imports neither skl2onnx nor (before an export) onnx;
    importing skl2onnx later registers them."""
    code = (
        "import sys, numpy as np, anynet\n"
        "from anynet.sklearn import MLPClassifier\n"
        "clf = MLPClassifier((3,), max_iter=2).fit(np.eye(4), [0, 1, 0, 1])\n"
        "assert 'onnx' not in sys.modules, 'onnx imported before any export'\n"
        "anynet.to_onnx(clf)\n"
        "assert 'skl2onnx' not in sys.modules, 'imported too early'\n"
        "import skl2onnx\n"
        "from skl2onnx._supported_operators import sklearn_operator_name_map as m\n"
        "assert m[MLPClassifier] == 'AnynetMLPClassifier', m.get(MLPClassifier)\n"
        "assert not any(type(f).__module__ == 'anynet._skl2onnx' for f in sys.meta_path)\n")
    pytest.importorskip("skl2onnx")
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


# --- the command line ----------------------------------------------------------------------

def _saved(tmp_path, **metadata):
    X, y = blobs(n=60)
    net = anynet.train(3.0 + 5.0 * X, y, hidden=(5,), epochs=2, backend="numpy",
                       dtype="float64", standardize=True, verbose=False)
    net.metadata = metadata
    anynet.save(net, tmp_path / "m.npz")
    return net, 3.0 + 5.0 * X


def test_cli_export_writes_what_predict_gives(tmp_path, capsys):
    from anynet.__main__ import main
    net, X = _saved(tmp_path)
    out = tmp_path / "m.onnx"
    assert main(["export", str(tmp_path / "m.npz"), "-o", str(out), "--dtype",
                 "float64", "--opset", "13"]) == 0
    assert "wrote" in capsys.readouterr().out
    proto = onnx.load(out)
    assert proto.opset_import[0].version == 13
    assert_close(run(proto, X)["output"], to_numpy(net.predict(X)), 1e-12)


def test_cli_export_applies_an_old_models_scaling(tmp_path):
    from anynet.__main__ import main
    X, y = blobs(n=60)
    net = anynet.train(X, y, hidden=(5,), epochs=2, backend="numpy", verbose=False)
    mean, scale = np.full(4, 3.0), np.full(4, 5.0)
    net.metadata = {"standardize": {"mean": mean.tolist(), "scale": scale.tolist()}}
    anynet.save(net, tmp_path / "old.npz")
    assert main(["export", str(tmp_path / "old.npz"), "-o", str(tmp_path / "m.onnx")]) == 0
    raw = X * scale + mean  # what the old model's users give it
    assert_close(run(onnx.load(tmp_path / "m.onnx"), raw)["output"],
                 to_numpy(net.predict(X)), 1e-5)


@pytest.mark.parametrize("case, message", [
    ("same", "is the input file"),
    ("missing", "no such file"),
    ("opset", "too old"),
    ("not-a-model", "not an anynet model"),
])
def test_cli_export_errors_are_one_line_and_keep_the_input(tmp_path, capsys, case, message):
    from anynet.__main__ import main
    _saved(tmp_path)
    model = tmp_path / "m.npz"
    before = model.read_bytes()
    args = {"same": [str(model), "-o", str(model)],
            "missing": [str(tmp_path / "none.npz"), "-o", str(tmp_path / "x.onnx")],
            "opset": [str(model), "-o", str(tmp_path / "x.onnx"), "--opset", "7"],
            "not-a-model": [str(tmp_path / "x.npy"), "-o", str(tmp_path / "x.onnx")]}[case]
    np.save(tmp_path / "x.npy", np.ones(3))
    assert main(["export", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("anynet: error: ") and err.count("\n") == 1 and message in err
    assert model.read_bytes() == before
    assert not (tmp_path / "x.onnx").exists()


# --- the README's examples and the benchmark script ------------------------------------------

def _readme_blocks():
    import re
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("## Deploying"):]
    section = section[:section.index("\n## ", 1)]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def test_the_readme_examples_run_as_written(tmp_path, monkeypatch):
    """Each block makes its own network and data (tests/test_readme.py runs them as
    scripts too): what they export predicts what anynet does."""
    pytest.importorskip("skl2onnx")
    import warnings
    from sklearn.exceptions import ConvergenceWarning
    export, pipeline = _readme_blocks()
    monkeypatch.chdir(tmp_path)
    namespace = {}
    with warnings.catch_warnings():  # backend="auto" says once that it chose NumPy
        warnings.simplefilter("ignore", UserWarning)
        exec(export, namespace)
    assert_close(namespace["P"], to_numpy(namespace["net"].predict(namespace["X"])), 1e-5)
    namespace = {}
    with warnings.catch_warnings():  # the example's 200 epochs need not converge
        warnings.simplefilter("ignore", ConvergenceWarning)
        exec(pipeline, namespace)
    pipe, X = namespace["pipe"], namespace["X"]
    assert run(namespace["onx"], X[:2])["output_label"].tolist() == pipe.predict(X[:2]).tolist()


def test_the_benchmark_script_runs(capsys):
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "scripts" / "onnx_benchmark.py"
    spec = importlib.util.spec_from_file_location("onnx_benchmark", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--layers", "6,5,3", "--seconds", "0.01", "--batches", "1,50"]) == 0
    table = capsys.readouterr().out
    for name in ("ONNX Runtime", "net.predict", "predict_proba"):
        assert name in table
