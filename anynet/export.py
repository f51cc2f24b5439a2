"""Export to ONNX: ``to_onnx`` writes a network or a fitted estimator as an ONNX graph,
``check_onnx`` runs that graph in ONNX Runtime beside the model's own predictions.

A Network's graph takes one float input ``X`` of shape (N, n_features), N
dynamic, and gives ``output``: what ``net.predict`` gives, with the network's
input scaling (and target scaling) inside, so it takes raw features. An
``anynet.sklearn`` estimator's graph follows skl2onnx's conventions for
scikit-learn's MLPs: ``label`` and ``probabilities`` for a classifier,
``variable`` (N, n_outputs) for a regressor. The operators are those of
``anynet._onnx_graph``, anynet's own arithmetic.

The weights are read to the host explicitly, once, from whatever backend and
device hold them. anynet never reads an ONNX file back into a network: an
exported file is a deployment artefact, not a model file anynet trusts.
Needs the ``onnx`` extra (``pip install "anynet-mlp[onnx]"``: onnx, and
onnxruntime for ``check_onnx``).
"""
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _onnx_graph
from ._backend import to_numpy
from ._files import atomic_write, check_target
from ._version import __version__
from .activations import ACTIVATIONS
from .model import Network

_DTYPES = {"float32": 1, "float64": 11}  # ONNX TensorProto element types
_PROTOBUF_LIMIT = 2 ** 31 - (64 << 20)  # one ONNX file is one protobuf message (< 2 GiB)


class MissingDependency(ImportError, ValueError):
    """An optional package that the export needs is not installed."""


@dataclass(frozen=True)
class _Spec:
    """What a graph computes, in host arrays: (W, b, activation) per layer, the
    input's (mean, scale), the outputs' (mean, scale); and the model's metadata."""

    layers: tuple
    input_scaling: tuple = None
    target_scaling: tuple = None
    metadata: tuple = ()     # (key, value) pairs for the ONNX metadata


def to_onnx(model, path=None, *, opset=None, dtype=None):
    """The ONNX graph of a network or of a fitted ``anynet.sklearn`` estimator.

    Parameters
    ----------
    model : Network or anynet.sklearn.MLPClassifier or MLPRegressor
        A network on any backend and device (from ``train``,
        ``initialize_network``, ``load``, a checkpoint), or a fitted estimator.
    path : str or os.PathLike, optional
        Also write the graph here (checked before any work, then written to a
        temporary file renamed over the target, as ``anynet.save``).
    opset : int, optional
        The ONNX opset (default 17; 9 or newer).
    dtype : {"float32", "float64"}, optional
        The graph's float type, of its input, weights and outputs; float32 when
        None (a float64 network exported as float32 has its weights rounded).

    Returns
    -------
    onnx.ModelProto
        A Network's graph: input ``X`` (N, n_features), output ``output``
        (N, n_outputs). A classifier's: ``label`` (N,) (int64 or strings:
        ``classes_``; (N, n_labels) 0/1 int64 for multi-label) and
        ``probabilities`` (N, n_classes). A regressor's: ``variable`` (N, n_outputs).
        Its metadata: anynet's version, the task, the classes, the feature names.

    Raises
    ------
    TypeError
        ``model`` is not a Network or a fitted anynet estimator; a bad ``dtype``.
    ValueError
        The model cannot be expressed in ONNX (an activation with no ONNX form,
        class labels that are neither whole numbers nor text), ``opset`` is too
        old or too new, ``path`` cannot be written, or the weights exceed
        protobuf's 2 GiB.
    ImportError (also a ValueError)
        onnx is not installed.
    """
    onnx = _require("onnx")
    dtype = _dtype(dtype)
    opset = _onnx_graph.check_opset(_onnx_graph.DEFAULT_OPSET if opset is None else opset,
                                    onnx.defs.onnx_opset_version())
    if path is not None:
        check_target(path, "ONNX model")
    estimator = _estimator_kind(model)
    spec = _estimator_spec(model) if estimator else _network_spec(model)
    _check_size(spec, dtype)
    graph = _Graph(onnx)
    n_features = spec.layers[0][0].shape[0]
    x = graph.inputs("X", dtype, n_features,
                     "raw features, one row per sample" + (
                         " (standardised inside the graph)" if spec.input_scaling else ""))
    proto = _build(graph, x, spec, dtype, estimator, model)
    _onnx_graph.check_operators({node.op_type for node in proto.graph.node}, opset)
    proto.opset_import[0].version = opset
    proto.ir_version = onnx.helper.find_min_ir_version_for(list(proto.opset_import))
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        data = proto.SerializeToString()
        atomic_write(path, lambda f: f.write(data), what="ONNX model")
    return proto


def _build(g, x, spec, dtype, estimator, model):
    """The graph's nodes and outputs, then the model with its metadata."""
    np_dtype = np.dtype(dtype)
    a = _onnx_graph.scale_inputs(g, x, spec.input_scaling, np_dtype)
    p = _onnx_graph.forward(g, a, spec.layers, np_dtype)
    p = _onnx_graph.scale_targets(g, p, spec.target_scaling, np_dtype)
    n_outputs = spec.layers[-1][0].shape[1]
    if estimator == "classifier":
        classes, label_type = _label_classes(model.classes_)
        multilabel = model._label_binarizer.y_type_ == "multilabel-indicator"
        _onnx_graph.classifier_outputs(g, p, classes, n_outputs, multilabel, np_dtype,
                                       ("label", "probabilities"))
        n_classes = n_outputs if n_outputs > 1 else 2
        g.output("label", label_type, ["N", n_outputs] if multilabel else ["N"],
                 "0/1 per label" if multilabel else "the predicted class (predict)")
        g.output("probabilities", dtype, ["N", n_classes],
                 "each class's probability, in classes_ order (predict_proba)")
    else:
        name = "variable" if estimator else "output"
        g.node("Identity", [p], name)
        g.output(name, dtype, ["N", n_outputs], _output_doc(estimator, model))
    return g.model(f"anynet {type(model).__name__}", dict(spec.metadata), dtype)


def _output_doc(estimator, model):
    if estimator:
        return "the predictions (predict), one column per target"
    task = model.task
    if task.is_classifier:
        return "the output layer's probabilities (net.predict), one column per class " \
               "in the metadata's classes order"
    return "the predictions (net.predict), one column per output"


# --- what a model computes, read to the host ----------------------------------------

def _network_spec(net):
    if not isinstance(net, Network):
        raise TypeError(f"model must be an anynet Network or a fitted anynet.sklearn "
                        f"estimator, got {type(net).__name__}" + _sklearn_hint(net))
    names = []
    for layer, (_, _, forward, _) in enumerate(net.layers, start=1):
        name = net.layer_activation(layer)
        if name not in _onnx_graph.ACTIVATIONS or ACTIVATIONS.get(name, (None,))[0] \
                is not forward:
            raise ValueError(f"cannot export: layer {layer}'s activation {name!r} has no ONNX "
                             f"form (anynet exports "
                             f"{', '.join(map(repr, _onnx_graph.ACTIVATIONS))})")
        names.append(name)
    layers = tuple((to_numpy(net[f"W{i}"]), to_numpy(net[f"b{i}"]), names[i - 1])
                   for i in range(1, net.n_layers + 1))
    task = net.task
    meta = {"task": json.dumps({"loss": net.loss, "output_activation": net.output_activation,
                                "n_outputs": net.layer_sizes[-1],
                                "classifier": task.is_classifier,
                                "multilabel": task.multilabel}),
            "layer_sizes": json.dumps(list(net.layer_sizes)),
            "activation": net.activation}
    if task.is_classifier:
        meta["classes"] = _json_labels(task.classes)
    features = (net.metadata or {}).get("features")
    if isinstance(features, list) and len(features) == net.layer_sizes[0]:
        meta["feature_names"] = json.dumps([str(f) for f in features])
    return _Spec(layers, _host_pair(net.input_scaling),
                 _host_pair(getattr(net, "target_scaling", None)),
                 tuple(_common_meta(meta, net.dtype).items()))


def _estimator_spec(est):
    from sklearn.utils.validation import check_is_fitted
    check_is_fitted(est, "coefs_")
    # the estimator's network names its activations as anynet does (logistic: sigmoid)
    hidden, output = est._network.activation, est._network.output_activation
    n = len(est.coefs_)
    layers = tuple((to_numpy(W), to_numpy(b), hidden if i < n - 1 else output)
                   for i, (W, b) in enumerate(zip(est.coefs_, est.intercepts_)))
    meta = {"task": json.dumps({"estimator": type(est).__name__,
                                "loss": getattr(est, "loss", "log_loss"),
                                "out_activation": est.out_activation_,
                                "n_outputs": int(est.n_outputs_)}),
            "layer_sizes": json.dumps([layers[0][0].shape[0]] +
                                      [W.shape[1] for W, _, _ in layers]),
            "activation": est.activation}
    if hasattr(est, "classes_"):
        meta["classes"] = _json_labels(est.classes_)
    if hasattr(est, "feature_names_in_"):
        meta["feature_names"] = json.dumps([str(f) for f in est.feature_names_in_])
    return _Spec(layers, None, None, tuple(_common_meta(meta, str(layers[0][0].dtype)).items()))


def _common_meta(meta, dtype):
    return {"anynet_version": __version__, **meta, "model_dtype": dtype}


def _host_pair(pair):
    return None if pair is None else tuple(to_numpy(a) for a in pair)


def _json_labels(labels):
    values = np.asarray(labels).tolist()
    return json.dumps(values, default=str)


def _estimator_kind(model):
    """"classifier", "regressor", or None for anything that is not an anynet estimator."""
    module = sys.modules.get("anynet.sklearn")
    if module is None or not isinstance(model, module._BaseMLP):
        return None
    return "classifier" if isinstance(model, module.MLPClassifier) else "regressor"


def _sklearn_hint(model):
    if type(model).__module__.startswith("sklearn."):
        return " (scikit-learn's own estimators export with skl2onnx.to_onnx)"
    return ""


def _label_classes(classes):
    """(labels as ONNX stores them, their element type): int64 for whole numbers and
    booleans, strings for text; anything else cannot be a label tensor."""
    classes = to_numpy(classes) if not isinstance(classes, np.ndarray) else classes
    if classes.dtype.kind in "biu":
        return classes.astype(np.int64), 7
    if classes.dtype.kind == "f" and np.all(classes == np.round(classes)):
        return classes.astype(np.int64), 7
    if classes.dtype.kind in "USO" and all(isinstance(c, str) for c in classes.tolist()):
        return np.asarray(classes.tolist(), dtype=object), 8
    raise ValueError(f"cannot export: the class labels {classes.tolist()[:5]} are neither "
                     f"whole numbers nor text (an ONNX label is int64 or a string)")


def _dtype(dtype):
    if dtype is None:
        return "float32"
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in _DTYPES:
        raise TypeError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return name


def _check_size(spec, dtype):
    size = sum(W.size + b.size for W, b, _ in spec.layers) * np.dtype(dtype).itemsize
    if size > _PROTOBUF_LIMIT:
        raise ValueError(f"cannot export: the weights take {size / 2**30:.1f} GiB in "
                         f"{dtype}; one ONNX file holds less than 2 GiB")


def _require(name):
    try:
        return __import__(name)
    except ImportError:
        raise MissingDependency(f"ONNX export needs the {name} package: pip install "
                                f"\"anynet-mlp[onnx]\" (or pip install {name})") from None


# --- the graph being written -----------------------------------------------------------

class _Graph:
    """An emitter for ``anynet._onnx_graph``: nodes and initializers, unique names."""

    def __init__(self, onnx, exact=("label", "probabilities", "variable", "output")):
        self.onnx, self.nodes, self.initializers = onnx, [], []
        self.exact = set(exact)  # the graph's outputs: named as asked
        self.taken, self.constants = set(self.exact), {}
        self.graph_inputs, self.graph_outputs = [], []

    def _unique(self, name):
        unique, k = name, 0
        while unique in self.taken:
            k += 1
            unique = f"{name}_{k}"
        self.taken.add(unique)
        return unique

    def node(self, op, inputs, name, **attributes):
        output = name if name in self.exact else self._unique(name)
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), [output],
                                                     name=self._unique(op), **attributes))
        return output

    def constant(self, name, array):
        array = np.asarray(array)
        key = _constant_key(name, array)
        if key is None or key not in self.constants:
            unique = self._unique(name)
            self.initializers.append(self.onnx.numpy_helper.from_array(array, unique))
            if key is None:
                return unique
            self.constants[key] = unique
        return self.constants[key]

    def inputs(self, name, dtype, n_features, doc):
        self.taken.add(name)
        self.graph_inputs.append(self.onnx.helper.make_tensor_value_info(
            name, _DTYPES[dtype], ["N", n_features], doc_string=doc))
        return name

    def output(self, name, elem_type, shape, doc):
        elem_type = _DTYPES.get(elem_type, elem_type)
        self.graph_outputs.append(self.onnx.helper.make_tensor_value_info(
            name, elem_type, shape, doc_string=doc))

    def model(self, name, metadata, dtype):
        helper = self.onnx.helper
        graph = helper.make_graph(self.nodes, name, self.graph_inputs, self.graph_outputs,
                                  self.initializers,
                                  doc_string=f"exported by anynet {__version__} ({dtype})")
        proto = helper.make_model(graph, producer_name="anynet", producer_version=__version__,
                                  opset_imports=[helper.make_opsetid("", 1)],
                                  doc_string="anynet never reads this file back; it is "
                                             "for ONNX Runtime and other ONNX tools")
        helper.set_model_props(proto, {k: str(v) for k, v in metadata.items()})
        return proto


def _constant_key(name, array):
    """What makes a small constant (a scalar, a row of classes) the same as one already
    in the graph, which it then shares; None for weights, which are never shared."""
    if array.size > 64:
        return None
    values = tuple(array.tolist()) if array.dtype == object else array.tobytes()
    return name, array.dtype.str, array.shape, values


# --- checking a graph in ONNX Runtime ----------------------------------------------------

def check_onnx(model, onnx_model, X, *, tolerance=None):
    """Run ``onnx_model`` in ONNX Runtime on X and compare with ``model``'s predictions.

    Parameters
    ----------
    model : Network or fitted anynet.sklearn estimator
        The model the graph was exported from.
    onnx_model : onnx.ModelProto, bytes, or path of an .onnx file
    X : array of shape (n_samples, n_features)
        Raw features (any backend's array or host data), given to both.
    tolerance : float, optional
        Largest difference allowed, relative to the output's scale (its largest
        absolute value): by default 1e-5 when the graph or the model is float32,
        1e-12 when both are float64.

    Returns
    -------
    dict
        For each float output, its largest difference relative to that scale;
        for a classifier's ``label``, the number of rows whose label differs (only
        rows whose probabilities are within the tolerance of a tie may differ).

    Raises
    ------
    ValueError
        A difference beyond the tolerance, or a label that differs off a tie.
    """
    ort = _require("onnxruntime")
    data = onnx_model.SerializeToString() if hasattr(onnx_model, "SerializeToString") \
        else onnx_model if isinstance(onnx_model, bytes) else Path(onnx_model).read_bytes()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    graph_dtype = {"tensor(float)": np.float32,
                   "tensor(double)": np.float64}[session.get_inputs()[0].type]
    X_host = np.asarray(to_numpy(X), dtype=np.float64)
    got = dict(zip([o.name for o in session.get_outputs()],
                   session.run(None, {session.get_inputs()[0].name:
                                      X_host.astype(graph_dtype)})))
    expected, model_dtype = _expected(model, X)
    if tolerance is None:
        both64 = graph_dtype == np.float64 and model_dtype == "float64"
        tolerance = 1e-12 if both64 else 1e-5
    return _compare(got, expected, tolerance)


def _expected(model, X):
    """{output name: the model's own answer (host)}, and the model's dtype."""
    kind = _estimator_kind(model)
    if kind == "classifier":
        return {"label": np.asarray(to_numpy(model.predict(X))),
                "probabilities": np.asarray(to_numpy(model.predict_proba(X)))}, \
            str(model.coefs_[0].dtype)
    if kind == "regressor":
        P = np.asarray(to_numpy(model.predict(X)))
        return {"variable": P.reshape(P.shape[0], -1)}, str(model.coefs_[0].dtype)
    if not isinstance(model, Network):
        raise TypeError(f"model must be an anynet Network or a fitted anynet.sklearn "
                        f"estimator, got {type(model).__name__}")
    return {"output": np.asarray(to_numpy(model.predict(X)))}, model.dtype


def _compare(got, expected, tolerance):
    report = {}
    probabilities = got.get("probabilities")
    for name, want in expected.items():
        if name not in got:
            raise ValueError(f"the ONNX graph has no output {name!r} (its outputs: "
                             f"{', '.join(got)})")
        have = got[name]
        if name == "label":
            report[name] = _label_mismatches(have, want, probabilities, tolerance)
            continue
        have, want = np.asarray(have, np.float64), np.asarray(want, np.float64)
        if have.shape != want.shape:
            raise ValueError(f"ONNX output {name!r} has shape {have.shape}; the model gives "
                             f"{want.shape}")
        scale = float(np.max(np.abs(want))) if want.size else 0.0
        scale = scale if scale > 0.0 else 1.0
        error = float(np.max(np.abs(have - want))) / scale if want.size else 0.0
        if not error <= tolerance:
            raise ValueError(f"ONNX output {name!r} differs from the model's by {error:.3g} "
                             f"of its scale {scale:.3g}, more than tolerance={tolerance:g}")
        report[name] = error
    return report


def _label_mismatches(have, want, P, tolerance):
    """Rows whose labels differ; a ValueError unless each is a near-tie of P."""
    have, want = np.asarray(have), np.asarray(want)
    if want.dtype.kind in "biuf":
        want = want.astype(np.int64)
    else:
        want, have = want.astype(str), have.astype(str)
    if have.shape != want.shape:
        raise ValueError(f"ONNX output 'label' has shape {have.shape}; the model gives "
                         f"{want.shape}")
    wrong = have != want
    rows = wrong.any(axis=1) if wrong.ndim == 2 else wrong
    if np.any(rows):
        P = np.asarray(P, np.float64)
        if wrong.ndim == 2:  # multi-label: each differing label's distance from 0.5
            margin = np.abs(P - 0.5)[wrong]
        else:  # the gap between the two largest probabilities
            top = np.sort(P[rows], axis=1)
            margin = top[:, -1] - top[:, -2]
        if np.any(margin > 2 * tolerance):
            raise ValueError(f"ONNX output 'label' differs from the model's on "
                             f"{int(np.sum(rows))} rows, not all of them ties")
    return int(np.sum(rows))
