"""Rows per second of one network's predictions: ONNX Runtime on anynet's exported graph,
``net.predict`` on NumPy, and scikit-learn's ``MLPClassifier.predict_proba`` holding the
same weights, at batch 1 and at batch 10,000, side by side in one run.

    python3 scripts/onnx_benchmark.py [--layers 784,256,128,10] [--seconds 1]

Everything is float32 on the CPU: ONNX Runtime with its default threads, NumPy with its
BLAS's. Each figure is the median of five turns, each turn calling the predictor for at
least ``--seconds / 5`` seconds; the three agree to 1e-5 before anything is timed. Prints
a Markdown table (the README's "Deploying" section holds one).
"""
import argparse
import os
import platform
import statistics
import time
import warnings

import numpy as np

import anynet


def network(sizes):
    """A classifier of these layer sizes (ReLU, softmax), with input scaling, float32."""
    net = anynet.initialize_network(list(sizes), activation="relu", loss="cross_entropy",
                                    init="he", dtype="float32", seed=0)
    rng = np.random.default_rng(1)
    net.input_scaling = (rng.uniform(0, 1, (1, sizes[0])).astype(np.float32),
                         rng.uniform(0.5, 2, (1, sizes[0])).astype(np.float32))
    return net


def sklearn_twin(net):
    """scikit-learn's MLPClassifier with the network's weights (scaling folded into W1)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    sizes = net.layer_sizes
    X = np.zeros((sizes[-1], sizes[0]), np.float32)
    clf = MLPClassifier(hidden_layer_sizes=sizes[1:-1], max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, np.arange(sizes[-1]))
    mean, scale = net.input_scaling
    W1 = net["W1"] / scale.reshape(-1, 1)  # (x - m) / s @ W = x @ (W / s) - (m / s) @ W
    clf.coefs_ = [W1] + [net[f"W{i}"] for i in range(2, net.n_layers + 1)]
    clf.intercepts_ = [(net["b1"] - (mean / scale) @ net["W1"]).ravel()] + \
        [net[f"b{i}"].ravel() for i in range(2, net.n_layers + 1)]
    return clf


def onnx_session(net):
    import onnxruntime
    proto = anynet.to_onnx(net)
    session = onnxruntime.InferenceSession(proto.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    return lambda X: session.run(None, {"X": X})[0]


def rows_per_second(predict, X, seconds):
    """Median over five turns of rows predicted per second."""
    rates = []
    for _ in range(5):
        calls, start = 0, time.perf_counter()
        while True:
            predict(X)
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds / 5 and calls >= 2:
                break
        rates.append(calls * X.shape[0] / elapsed)
    return statistics.median(rates)


def _cpu():
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", default="784,256,128,10", help="layer sizes")
    parser.add_argument("--seconds", type=float, default=1.0, help="time per figure")
    parser.add_argument("--batches", default="1,10000", help="batch sizes")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.layers.split(",")]
    net = network(sizes)
    predictors = {"ONNX Runtime (anynet.to_onnx)": onnx_session(net),
                  "anynet net.predict (NumPy)": lambda X: net.predict(X)}
    try:
        clf = sklearn_twin(net)
        predictors["scikit-learn predict_proba"] = clf.predict_proba
    except ImportError:
        print("scikit-learn is not installed: its column is left out")
    rng = np.random.default_rng(2)
    batches = [int(b) for b in args.batches.split(",")]
    X = rng.uniform(0, 1, (max(batches), sizes[0])).astype(np.float32)
    reference = np.asarray(net.predict(X[:100]))
    for name, predict in predictors.items():  # the same answers before any timing
        np.testing.assert_allclose(predict(X[:100]), reference, atol=1e-5, err_msg=name)
    import onnxruntime
    print(f"{'-'.join(map(str, sizes))} network, float32; {_cpu()}, {os.cpu_count()} CPUs; "
          f"numpy {np.__version__}, onnxruntime {onnxruntime.__version__}")
    print("\n| predictor | " + " | ".join(f"batch {b:,}" for b in batches) + " |")
    print("|---|" + "---|" * len(batches))
    for name, predict in predictors.items():
        rates = [rows_per_second(predict, X[:b], args.seconds) for b in batches]
        print(f"| {name} | " + " | ".join(f"{r:,.0f} rows/s" for r in rates) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
