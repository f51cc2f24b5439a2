"""The work of ``anynet export``: a saved model (any file ``anynet.load`` reads) as ONNX.

The output is checked before anything is read (writable, a regular file, not
the model itself), and written atomically. A model written by an older
``anynet train``, which kept its feature scaling in its metadata instead of the
network, gets that scaling (checked) in the graph, so the graph takes raw
features as ``anynet predict`` does.
"""

from ._cli_model import _standardize_meta
from ._files import check_outputs


def export(args):
    """``anynet export MODEL -o OUT.onnx``: 0 on success."""
    from .export import _require, to_onnx
    from .persistence import load
    check_outputs([("-o", args.output, "output")], [args.model])
    _require("onnx")  # before reading a model that could not be written
    net = load(args.model, backend="numpy")
    meta = net.metadata or {}
    if net.input_scaling is None and "standardize" in meta:
        mean, scale = _legacy_scaling(args.model, meta["standardize"], net.layer_sizes[0])
        net.input_scaling = (mean.astype(net.dtype), scale.astype(net.dtype))
    to_onnx(net, args.output, opset=args.opset, dtype=args.dtype)
    sizes = "-".join(map(str, net.layer_sizes))
    print(f"wrote {args.output}: the {sizes} network of {args.model} as ONNX "
          f"({args.dtype or 'float32'}, input 'X', output 'output')")
    return 0


def _legacy_scaling(model, value, n):
    """(mean, scale) of shape (1, n) from an old model's metadata, checked as the
    other commands check it: a model file may come from anywhere."""
    mean, scale = _standardize_meta(model, value, n)
    return mean.reshape(1, -1), scale.reshape(1, -1)
