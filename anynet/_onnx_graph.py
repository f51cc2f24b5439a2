"""The ONNX nodes of a network's forward pass: the arithmetic of ``net.predict``.

``anynet.export`` (a whole model) and ``anynet._skl2onnx`` (a step of a
scikit-learn pipeline) both write their graphs through this module, each with
its own *emitter*: an object with ``node(op, inputs, name, **attributes)``
(returns the output's name) and ``constant(name, array)`` (an initializer;
returns its name), both of which make names unique. So the two paths give the
same operators, in the same order, as anynet's NumPy code:

- input scaling ``(X - mean) / scale``: Sub then Div, as ``Network._features``;
- each layer ``a @ W + b``: Gemm (one matrix product, then the bias);
- ``sigmoid`` on the output layer: anynet's ``1 / (1 + exp(min(-z, 88)))``
  (Neg, Min, Exp, Add, Div), so small probabilities stay nonzero as in
  ``net.predict`` (ONNX Runtime's Sigmoid rounds them to 0); in hidden layers
  ONNX's Sigmoid, one pass instead of five (a sigmoid network's graph ran 1.4
  times as fast), within 2e-7 of anynet's in float32 and 3e-16 in float64;
- ``leaky_relu``: ``max(z, 0.01 z)``, equal to anynet's ``where(z > 0, z,
  0.01 z)`` for a slope below 1, with the slope a constant of the graph's
  dtype (the LeakyRelu operator keeps its alpha in float32: 2e-8 off in float64);
- target scaling ``P * scale + mean``: Mul then Add.

Every operator used is listed in ``SINCE`` with the first opset whose version
of it this module writes for; ``check_operators`` refuses an older opset.
"""
import numpy as np

from .activations import LEAKY_SLOPE, SIGMOID_CLAMP

#: operator -> the first opset where it takes what this module gives it
#: (NumPy-style broadcasting of the bias, the scales and the constants: opset 7;
#: Min with broadcasting: 8). Opset 9 is ONNX IR 4, the first in which weights
#: may be stored apart from the graph's inputs, as anynet writes them.
SINCE = {"Gemm": 7, "Add": 7, "Sub": 7, "Mul": 7, "Div": 7, "Min": 8, "Max": 8,
         "Greater": 7, "Neg": 6, "Exp": 6, "Sigmoid": 6, "Relu": 6, "Tanh": 6, "Softmax": 1,
         "Concat": 4, "Cast": 6, "ArgMax": 1, "Gather": 1, "Reshape": 5, "Identity": 1}
MIN_OPSET = 9
#: the opset written when none is asked for: ONNX Runtime 1.13 and later (2022),
#: onnxruntime-web and the mobile builds run it
DEFAULT_OPSET = 17


def check_opset(opset, latest):
    """``opset`` as an int no newer than ``latest`` (what the installed onnx knows)."""
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)):
        raise TypeError(f"opset must be an int, got {opset!r}")
    opset = int(opset)
    if opset > latest:
        raise ValueError(f"opset={opset} is newer than the installed onnx knows "
                         f"({latest}); upgrade onnx or ask for {latest} or less")
    return opset


def check_operators(ops, opset):
    """A ValueError if ``opset`` is older than an operator of ``ops`` needs (or than
    ``MIN_OPSET``), naming those operators."""
    if opset >= MIN_OPSET:
        return
    needs = sorted({(SINCE[op], op) for op in ops if SINCE[op] > opset})
    ops = ", ".join(f"{op} needs opset {v}" for v, op in needs)
    raise ValueError(f"opset={opset} is too old for this graph"
                     f"{': ' + ops if ops else ''}; anynet writes opset {MIN_OPSET} or "
                     f"newer (ONNX IR 4: weights stored apart from the inputs)")


def scale_inputs(g, x, scaling, dtype):
    """(X - mean) / scale, or X as it is when ``scaling`` is None."""
    if scaling is None:
        return x
    mean, scale = scaling
    centred = g.node("Sub", [x, g.constant("input_mean", _row(mean, dtype, "input mean"))],
                     "centred")
    scale = _row(scale, dtype, "input scale", divisor=True)
    return g.node("Div", [centred, g.constant("input_scale", scale)],
                  "standardized")


def forward(g, x, layers, dtype):
    """The output layer's activations for input ``x``: layers of (W, b, activation)."""
    a = x
    for i, (W, b, activation) in enumerate(layers, start=1):
        z = g.node("Gemm", [a, g.constant(f"W{i}", _cast(W, dtype, f"W{i}")),
                            g.constant(f"b{i}", np.reshape(_cast(b, dtype, f"b{i}"),
                                                           (-1,)))], f"z{i}")
        emit = OUTPUT_ACTIVATIONS.get(activation) if i == len(layers) else None
        a = (emit or ACTIVATIONS[activation])(g, z, dtype, f"a{i}")
    return a


def scale_targets(g, p, scaling, dtype):
    """P * scale + mean (a network's target scaling), or P when ``scaling`` is None."""
    if scaling is None:
        return p
    mean, scale = scaling
    scaled = g.node("Mul", [p, g.constant("target_scale", _row(scale, dtype, "target scale"))],
                    "scaled")
    return g.node("Add", [scaled, g.constant("target_mean", _row(mean, dtype, "target mean"))],
                  "rescaled")


def _row(a, dtype, name, divisor=False):
    return np.reshape(_cast(a, dtype, name, divisor), (1, -1))


def _cast(a, dtype, name, divisor=False):
    """``a`` as ``dtype``, checked after the cast (as ``anynet.load`` checks): a float64
    network's 1e39 is inf in a float32 graph, and a scale of 1e-46 is 0 there, which
    would give a graph that disagrees with ``predict`` in silence."""
    with np.errstate(over="ignore", under="ignore"):
        cast = np.asarray(a, dtype=dtype)
    bad = not np.all(np.isfinite(cast))
    if divisor and not bad:
        bad = bool(np.any(np.abs(cast) < np.finfo(cast.dtype).tiny))
    if bad:
        raise ValueError(f"the network's {name} holds values that are not finite"
                         f"{' (or are 0 or subnormal)' if divisor else ''} in {cast.dtype}, "
                         f"beyond its range; export with dtype='float64'")
    return cast


def _scalar(g, name, value, dtype):
    return g.constant(name, np.asarray(value, dtype=dtype))


def _sigmoid(g, z, dtype, name):
    clamped = g.node("Min", [g.node("Neg", [z], name + "_neg"),
                             _scalar(g, "clamp", SIGMOID_CLAMP, dtype)], name + "_clamped")
    one = _scalar(g, "one", 1.0, dtype)
    denominator = g.node("Add", [one, g.node("Exp", [clamped], name + "_exp")],
                         name + "_denominator")
    return g.node("Div", [one, denominator], name)


def _leaky_relu(g, z, dtype, name):
    sloped = g.node("Mul", [z, _scalar(g, "leaky_slope", LEAKY_SLOPE, dtype)], name + "_sloped")
    return g.node("Max", [z, sloped], name)


def _identity(g, z, dtype, name):
    return z


def _unary(op, **attributes):
    def emit(g, z, dtype, name):
        return g.node(op, [z], name, **attributes)
    return emit


#: anynet activation name -> emitter(g, z, dtype, name) -> output name
ACTIVATIONS = {
    "sigmoid": _unary("Sigmoid"),
    "tanh": _unary("Tanh"),
    "relu": _unary("Relu"),
    "leaky_relu": _leaky_relu,
    "identity": _identity,
    "softmax": _unary("Softmax", axis=1),  # 2-D input: every opset's Softmax agrees
    "exp": _unary("Exp"),
}
#: the output layer's own forms, where they differ
OUTPUT_ACTIVATIONS = {"sigmoid": _sigmoid}


def classifier_outputs(g, p, classes, n_outputs, multilabel, dtype, names):
    """scikit-learn's ``predict`` and ``predict_proba`` from the output layer ``p``.

    Parameters
    ----------
    p : name of a tensor of shape (N, n_outputs)
        Probabilities: softmax rows, one sigmoid (binary), or one per label.
    classes : ndarray of shape (n_classes,)
        The labels, int64 or str (object).
    n_outputs : int
        Columns of ``p``: 1 for a binary classifier's one sigmoid.
    multilabel : bool
    names : (label name, probabilities name)
        The names the two outputs must have.

    The label is the first largest probability (ArgMax, as NumPy's argmax), a
    probability above 0.5 for one sigmoid (scikit-learn's LabelBinarizer), and
    for multi-label the int64 0/1 matrix of the probabilities above 0.5.
    """
    label, probabilities = names
    if multilabel:
        g.node("Identity", [p], probabilities)
        above = g.node("Greater", [p, _scalar(g, "half", 0.5, dtype)], "above")
        g.node("Cast", [above], label, to=7)  # int64
        return
    table = g.constant("classes", classes)
    if n_outputs == 1:
        negative = g.node("Sub", [_scalar(g, "one", 1.0, dtype), p], "negative")
        g.node("Concat", [negative, p], probabilities, axis=1)
        above = g.node("Greater", [p, _scalar(g, "half", 0.5, dtype)], "above")
        above = g.node("Cast", [above], "above_index", to=7)
        index = g.node("Reshape", [above, g.constant("flat", np.asarray([-1], np.int64))],
                       "index")
    else:
        g.node("Identity", [p], probabilities)
        index = g.node("ArgMax", [p], "index", axis=1, keepdims=0)
    g.node("Gather", [table, index], label, axis=0)

