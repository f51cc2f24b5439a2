"""anynet's estimators in skl2onnx: ``skl2onnx.to_onnx(pipeline, X)`` converts a
pipeline that holds an ``anynet.sklearn.MLPClassifier`` or ``MLPRegressor``.

skl2onnx converts what its registry names; ``register`` adds anynet's two
estimators to it, each with a shape calculator and a converter that writes
the nodes of ``anynet._onnx_graph`` (anynet's arithmetic, as ``anynet.to_onnx``
writes it; skl2onnx's own MLP converter would round small sigmoid
probabilities to 0 and knows no Poisson output). The classifier declares
skl2onnx's ``zipmap``, ``output_class_labels`` and ``nocl`` (labels as
class indices) options, as skl2onnx's MLPClassifier does, so the outputs are those of scikit-learn's
MLPClassifier converted by skl2onnx (``output_label``, ``output_probability``).

Registering must not import skl2onnx for users who never export:
``anynet.sklearn`` calls ``register_when_imported``, which registers at once
if skl2onnx is already imported, and otherwise waits for its import (a finder
on ``sys.meta_path`` that wraps skl2onnx's loader and removes itself).
"""
import importlib.abc
import importlib.util
import sys
import warnings

import numpy as np

from . import _onnx_graph

_registered = False
_ESTIMATORS = []  # (classifier class, regressor class), given by anynet.sklearn


def register():
    """Add anynet's estimators to skl2onnx's registry (once; imports skl2onnx)."""
    global _registered
    if _registered:
        return
    from skl2onnx import update_registered_converter
    MLPClassifier, MLPRegressor = _ESTIMATORS
    update_registered_converter(
        MLPClassifier, "AnynetMLPClassifier", _classifier_shapes, _convert_classifier,
        options={"zipmap": [True, False, "columns"], "output_class_labels": [False, True],
                 "nocl": [False, True]})
    update_registered_converter(MLPRegressor, "AnynetMLPRegressor", _regressor_shapes,
                                _convert_regressor)
    _registered = True


def register_when_imported(classifier, regressor):
    """Register these estimator classes now if skl2onnx is imported, else as soon as it is."""
    _ESTIMATORS[:] = [classifier, regressor]
    if "skl2onnx" in sys.modules:
        _register_quietly()
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def _register_quietly():
    """``register``, with a warning instead of an exception: a skl2onnx whose
    registry anynet cannot use must not break importing skl2onnx."""
    try:
        register()
    except Exception as exc:  # noqa: BLE001 (any failure of another package's API)
        warnings.warn(f"anynet could not register its estimators with skl2onnx "
                      f"({type(exc).__name__}: {exc}); skl2onnx will not convert them",
                      RuntimeWarning, stacklevel=2)


class _Finder(importlib.abc.MetaPathFinder):
    """Finds skl2onnx with the other finders, and registers once it has run."""

    def find_spec(self, name, path=None, target=None):
        if name != "skl2onnx":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)  # once: and so that find_spec below skips it
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _Loader(spec.loader)
        return spec


class _Loader(importlib.abc.Loader):
    """skl2onnx's own loader, then ``register``; anything else goes to the loader."""

    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _register_quietly()

    def __getattr__(self, name):  # get_resource_reader, is_package, ...
        if name == "_loader":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self._loader, name)


# --- shape calculators --------------------------------------------------------------

def _classifier_shapes(operator):
    from skl2onnx.common.data_types import (DoubleTensorType, FloatTensorType,
                                            Int64TensorType, StringTensorType)
    est = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    multilabel = est._label_binarizer.y_type_ == "multilabel-indicator"
    _, label_type = _classes(operator.scope_inst, est)
    label = Int64TensorType if label_type == 7 else StringTensorType
    operator.outputs[0].type = label([n, est.n_outputs_] if multilabel else [n])
    n_classes = est.n_outputs_ if est.n_outputs_ > 1 else 2
    floats = DoubleTensorType if _is_double(operator) else FloatTensorType
    operator.outputs[1].type = floats([n, n_classes])


def _regressor_shapes(operator):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType
    n = operator.inputs[0].get_first_dimension()
    floats = DoubleTensorType if _is_double(operator) else FloatTensorType
    operator.outputs[0].type = floats([n, operator.raw_operator.n_outputs_])


def _is_double(operator):
    from skl2onnx.common.data_types import DoubleTensorType
    return isinstance(operator.inputs[0].type, DoubleTensorType)


# --- converters -----------------------------------------------------------------------

def _convert_classifier(scope, operator, container):
    est = operator.raw_operator
    g, p, dtype = _forward(scope, operator, container)
    classes, _ = _classes(scope, est)
    multilabel = est._label_binarizer.y_type_ == "multilabel-indicator"
    names = (operator.outputs[0].full_name, operator.outputs[1].full_name)
    g.exact.update(names)
    _onnx_graph.classifier_outputs(g, p, classes, est.n_outputs_, multilabel, dtype, names)


def _convert_regressor(scope, operator, container):
    g, p, _ = _forward(scope, operator, container)
    output = operator.outputs[0].full_name
    g.exact.add(output)
    g.node("Identity", [p], output)


def _forward(scope, operator, container):
    """(emitter, the output layer's name, dtype): X cast to the graph's float type,
    through the estimator's layers."""
    from .export import _estimator_spec
    spec = _estimator_spec(operator.raw_operator)
    dtype = np.dtype(np.float64 if _is_double(operator) else np.float32)
    g = _Emitter(scope, container)
    x = g.node("Cast", [operator.inputs[0].full_name], "cast_input",
               to=11 if dtype == np.float64 else 1)
    return g, _onnx_graph.forward(g, x, spec.layers, dtype), dtype


def _classes(scope, est):
    """(labels, ONNX type) with skl2onnx's ``nocl`` option: indices instead of labels."""
    from skl2onnx.common.utils_classifier import get_label_classes
    from .export import _label_classes
    return _label_classes(np.asarray(get_label_classes(scope, est)))


class _Emitter:
    """``anynet._onnx_graph``'s emitter on skl2onnx's scope (names) and container."""

    def __init__(self, scope, container):
        self.scope, self.container, self.exact, self.constants = scope, container, set(), {}

    def node(self, op, inputs, name, **attributes):
        output = name if name in self.exact else self.scope.get_unique_variable_name(name)
        self.container.add_node(op, list(inputs), [output],
                                name=self.scope.get_unique_operator_name(op), **attributes)
        return output

    def constant(self, name, array):
        from onnx import numpy_helper
        from .export import _constant_key
        array = np.asarray(array)
        key = _constant_key(name, array)
        if key is not None and key in self.constants:
            return self.constants[key]
        unique = self.scope.get_unique_variable_name(name)
        tensor = numpy_helper.from_array(array, unique)
        # a string tensor's values go as a list (skl2onnx copies a tensor's raw bytes only)
        content = [s.encode("utf-8") for s in array.tolist()] if array.dtype == object \
            else tensor
        self.container.add_initializer(unique, tensor.data_type, list(array.shape), content)
        if key is not None:
            self.constants[key] = unique
        return unique
