"""The anynet command, run as a user runs it: through a subprocess."""
import csv
import subprocess
import sys

import numpy as np
import pytest

import anynet


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "anynet", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def _one_error_line(result, *fragments):
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("anynet: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def flowers(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "flowers.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["petal", "sepal", "kind"])
        for _ in range(90):
            kind = rng.integers(0, 3)
            w.writerow([f"{kind + rng.normal(0, 0.2):.3f}", f"{rng.normal(5, 1):.3f}",
                        ["iris", "rose", "tulip"][kind]])
    return path


def test_train_then_predict_a_csv(flowers, tmp_path):
    model, plot = tmp_path / "model.npz", tmp_path / "loss.png"
    result = run("train", flowers, "--target", "kind", "--hidden", "16,8", "--epochs", "60",
                 "--batch-size", "16", "--backend", "numpy", "--plot", plot, "-o", model)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("task: classification (inferred: the target 'kind' holds "
                                    "text labels; override with --task regress)\n")
    assert "trained 2-16-8-3 on 81 of 90 rows, 9 held out (3 classes)" in result.stdout
    assert "validation accuracy" in result.stdout and "numpy on cpu" in result.stdout
    assert "100%" in result.stderr  # the progress bar
    assert plot.read_bytes()[:4] == b"\x89PNG"
    net = anynet.load(model)
    assert net.classes == ("iris", "rose", "tulip")
    assert net.metadata["features"] == ["petal", "sepal"]
    out = tmp_path / "predictions.csv"
    result = run("predict", model, flowers, "--proba", "-o", out)
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(out.read_text().splitlines()))
    assert rows[0] == ["prediction", "proba_iris", "proba_rose", "proba_tulip"]
    truth = [r[2] for r in csv.reader(flowers.read_text().splitlines())][1:]
    assert len(rows) == 91
    assert np.mean([r[0] == t for r, t in zip(rows[1:], truth)]) > 0.9
    assert all(abs(sum(map(float, r[1:])) - 1) < 1e-4 for r in rows[1:])


def test_train_a_builtin_dataset_and_predict_to_stdout(tmp_path):
    model = tmp_path / "m.npz"
    result = run("train", "moons", "--epochs", "30", "--quiet", "--backend", "numpy",
                 "-o", model)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    result = run("predict", model, "moons")
    lines = result.stdout.splitlines()
    assert lines[0] == "prediction" and len(lines) == 201
    assert set(lines[1:]) <= {"0", "1"}


def test_regression_from_npz(tmp_path):
    X = np.random.default_rng(0).standard_normal((80, 3))
    np.savez(tmp_path / "r.npz", X=X, y=X @ [1.0, 2.0, -1.0])
    model = tmp_path / "r_model.npz"
    result = run("train", tmp_path / "r.npz", "--quiet", "--epochs", "50", "--backend",
                 "numpy", "-o", model)
    assert result.returncode == 0, result.stderr
    assert "validation r2" in result.stdout
    result = run("predict", model, tmp_path / "r.npz")
    assert result.stdout.splitlines()[0] == "prediction"
    _one_error_line(run("predict", model, tmp_path / "r.npz", "--proba"),
                    "--proba needs a classifier")


def test_info():
    result = run("info")
    assert result.returncode == 0
    assert f"anynet {anynet.__version__}" in result.stdout
    assert "numpy             devices: cpu" in result.stdout
    assert "backend='auto' picks:" in result.stdout


def test_user_errors_are_one_line(flowers, tmp_path):
    model = tmp_path / "m.npz"
    _one_error_line(run("train", tmp_path / "none.csv", "--target", "kind", "-o", model),
                    "none.csv", "neither a file nor a built-in dataset")
    _one_error_line(run("train", flowers, "--target", "colour", "-o", model),
                    "no column 'colour'")
    _one_error_line(run("train", flowers, "-o", model), "--target")
    _one_error_line(run("train", flowers, "--target", "kind", "--hidden", "wide", "-o", model),
                    "--hidden 'wide'")
    _one_error_line(run("train", flowers, "--target", "kind", "--lr", "-1", "-o", model),
                    "learning_rate must be > 0")
    _one_error_line(run("train", flowers, "--target", "kind", "--epochs", "ten", "-o", model),
                    "--epochs", "invalid int value")
    _one_error_line(run("train", flowers, "--target", "kind"), "-o/--output")
    broken = tmp_path / "broken.csv"
    broken.write_text("petal,sepal,kind\n1.0,2.0,iris\n1.0,abc,rose\n")
    _one_error_line(run("train", broken, "--target", "kind", "-o", model),
                    "broken.csv, row 3, column 'sepal': 'abc' is not a number")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    _one_error_line(run("train", empty, "--target", "kind", "-o", model), "the file is empty")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a model")
    _one_error_line(run("predict", junk, flowers), "junk.npz: cannot load")
    _one_error_line(run("frobnicate"), "invalid choice")
    assert not model.exists()


def test_predict_with_a_model_saved_from_python(tmp_path):
    X = np.random.default_rng(1).standard_normal((40, 2))
    net = anynet.train(X, (X[:, 0] > 0).astype(int), epochs=50, backend="numpy", verbose=False)
    model = anynet.save(net, tmp_path / "py.npz")
    data = tmp_path / "x.csv"
    data.write_text("a,b\n" + "\n".join(f"{p},{q}" for p, q in X) + "\n")
    result = run("predict", model, data)
    assert result.returncode == 0, result.stderr
    predicted = [int(v) for v in result.stdout.split()[1:]]
    assert np.mean(np.array(predicted) == (X[:, 0] > 0)) > 0.9
    np.save(tmp_path / "x.npy", X)  # features only
    assert run("predict", model, tmp_path / "x.npy").stdout == result.stdout


# --- issue 11: the command keeps its promises ------------------------------------------

BATCH = """
import contextlib, io, json, sys
from anynet.__main__ import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's errors, --help, --version
            code = exc.code
    results.append([code, out.getvalue(), err.getvalue()])
print(json.dumps(results))
"""


def run_many(*commands, cwd=None):
    """Several command lines through anynet's entry point (what the ``anynet`` script
    calls), in ONE fresh interpreter: a subprocess costs more than most of them."""
    import json
    argvs = [[str(a) for a in command] for command in commands]
    done = subprocess.run([sys.executable, "-c", BATCH, json.dumps(argvs)],
                          capture_output=True, text=True, timeout=300, cwd=cwd)
    assert done.returncode == 0, done.stderr  # a traceback escaped main()
    return [subprocess.CompletedProcess(argv, code, out, err)
            for argv, (code, out, err) in zip(argvs, json.loads(done.stdout))]


def _write_csv(path, header, rows, **options):
    with open(path, "w", newline="", encoding=options.pop("encoding", "utf-8")) as f:
        w = csv.writer(f, **options)
        w.writerow(header)
        w.writerows(rows)
    return path


def test_nothing_is_destroyed_and_every_mistake_is_caught_before_training(flowers, tmp_path):
    model = tmp_path / "m.npz"
    before = flowers.read_bytes()
    train = ["train", flowers, "--target", "kind", "--backend", "numpy", "--quiet"]
    results = run_many(
        [*train, "-o", flowers],
        [*train, "-o", model, "--plot", model],
        [*train, "-o", model, "--checkpoint", model],
        [*train, "-o", tmp_path / "missing" / "m.npz"],
        [*train, "-o", model, "--checkpoint", tmp_path / "missing" / "c.npz"],
        [*train, "-o", model, "--plot", tmp_path / "missing" / "p.png"],
        [*train, "-o", model, "--plot", tmp_path / "loss.xyz"],
        [*train, "-o", tmp_path],
        [*train, "-o", model, "--epochs", "0"],
        [*train, "-o", model, "--resume"],
        [*train, "-o", model, "--hidden", "10000000000"],
        [*train, "-o", model, "--sep", ";;"],
        [*train, "-o", model, "--encoding", "klingon"])
    expected = [("-o", "is the input file", "would destroy it"),
                ("--plot", "is the same file as -o"),
                ("--checkpoint", "is the same file as -o"),
                ("cannot write output", "missing does not exist"),
                ("cannot write checkpoint", "missing does not exist"),
                ("cannot write --plot", "missing does not exist"),
                ("--plot", "unknown image type 'xyz'"),
                ("cannot write output", "is a folder, not a regular file"),
                ("argument --epochs: must be an integer >= 1, got '0'",),
                ("--resume needs --checkpoint",),
                ("--hidden 10000000000: a 2-10000000000-3 network has 60,000,000,003 "
                 "parameters, more than anynet saves and loads",),
                ("argument --sep: must be one character",),
                ("argument --encoding: unknown encoding 'klingon'",)]
    for result, fragments in zip(results, expected):
        _one_error_line(result, *fragments)
        assert "100%" not in result.stderr
    assert flowers.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flowers.csv"]


def test_tracebacks_become_one_line(flowers, tmp_path):
    good = _write_csv(tmp_path / "good.csv", ["a", "b", "t"], [[1, 2, 0], [3, 4, 1]] * 5)
    long_field = tmp_path / "long.csv"
    long_field.write_text('a,t\n1,"' + "x" * 140_000 + "\n2,1\n")
    np.savez(tmp_path / "ok.npz", X=np.ones((4, 2)), y=[0, 1, 0, 1])
    data = bytearray((tmp_path / "ok.npz").read_bytes())
    data[data.find(b"\x00\x00\xf0\x3f") + 3] ^= 0xFF  # a byte of X's data
    (tmp_path / "crc.npz").write_bytes(bytes(data))
    (tmp_path / "cut.npz").write_bytes(bytes(data[:len(data) // 2]))
    net = anynet.train(np.ones((6, 2)), [0, 1] * 3, epochs=1, backend="numpy", verbose=False)
    odd = {}
    for name, metadata in [("standardize", {"standardize": "abc"}),
                           ("features", {"features": [1, 2]}),
                           ("scale", {"standardize": {"mean": [0, 0], "scale": [0, 1]}})]:
        net.metadata = metadata
        odd[name] = anynet.save(net, tmp_path / f"odd_{name}.npz")
    features = _write_csv(tmp_path / "features.csv", ["a", "b"], [[1, 2], [3, 4]])
    big = _write_csv(tmp_path / "big.csv", ["a", "b", "t"],
                     [[1e308, 1, 0], [-1e308, 2, 1], [1e308, 3, 0]])
    results = run_many(
        ["train", good, "--target", "t", "-o", tmp_path / "m.npz", "--lr", "1e6",
         "--optimizer", "sgd", "--quiet", "--backend", "numpy"],
        ["train", long_field, "--target", "t", "-o", tmp_path / "m.npz"],
        ["train", tmp_path / "crc.npz", "-o", tmp_path / "m.npz"],
        ["train", tmp_path / "cut.npz", "-o", tmp_path / "m.npz"],
        ["predict", odd["standardize"], features],
        ["predict", odd["features"], features],
        ["predict", odd["scale"], features],
        ["train", big, "--target", "t", "-o", tmp_path / "m.npz", "--dtype", "float64"],
        ["train", big, "--target", "t", "-o", tmp_path / "m.npz"])
    expected = [("training diverged during epoch", "try a smaller --lr than 1e+06",
                 "Nothing was saved"),
                ("long.csv, row 2: a quoted field never closes",),
                ("crc.npz: cannot load", "Bad CRC-32"),
                ("cut.npz: cannot load", "truncated or corrupted"),
                ("odd_standardize.npz: its metadata 'standardize' is not 2 finite means",),
                ("odd_features.npz: its metadata 'features' is not a list of 2 column names",),
                ("odd_scale.npz: its metadata 'standardize' is not 2 finite means and "
                 "non-zero scales",),
                ("big.csv: column 'a' cannot be standardised", "overflows"),
                ("big.csv: column 'a' holds values too large for float32",
                 "dtype='float64'")]
    for result, fragments in zip(results, expected):
        _one_error_line(result, *fragments)
    assert not (tmp_path / "m.npz").exists()


def test_out_of_memory_is_one_line(tmp_path):
    """--hidden under the save/load cap, yet more than this process may allocate."""
    result = subprocess.run(
        [sys.executable, "-c", "import resource, sys; from anynet.__main__ import main; "
         "resource.setrlimit(resource.RLIMIT_AS, (1 << 31, 1 << 31)); sys.exit(main())",
         "train", "xor", "--hidden", "200000000", "--backend", "numpy", "-o",
         tmp_path / "m.npz"], capture_output=True, text=True, timeout=120)
    _one_error_line(result, "out of memory", "try smaller --hidden")


def test_wrong_tasks_are_not_trained(tmp_path):
    """diabetes-like real targets regress; a NaN target, 007 vs 7, duplicate columns,
    bytes of another encoding: each said, none silently wrong."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 2))
    y = np.round(150 + 50 * X[:, 0] + 20 * X[:, 1])  # 95 distinct whole numbers
    real = _write_csv(tmp_path / "real.csv", ["a", "b", "target"],
                      [[p, q, f"{t:.1f}"] for (p, q), t in zip(X, y)])
    nan = _write_csv(tmp_path / "nan.csv", ["a", "t"], [[1, 2], [2, "nan"], [3, 4]])
    labels = _write_csv(tmp_path / "labels.csv", ["a", "t"],
                        [[i, ["007", "7"][i % 2]] for i in range(20)])
    dup = _write_csv(tmp_path / "dup.csv", ["a", "a", "t"], [[1, 2, 3]])
    latin = _write_csv(tmp_path / "latin.csv", ["größe", "t"], [[1, "x"], [2, "y"]] * 5,
                       encoding="latin-1")
    common = ["--quiet", "--backend", "numpy", "--epochs", "20"]
    results = run_many(
        ["train", real, "--target", "target", "-o", tmp_path / "r.npz", *common],
        ["train", real, "--target", "target", "-o", tmp_path / "c.npz", "--task",
         "classify", *common],
        ["train", nan, "--target", "t", "-o", tmp_path / "n.npz", *common],
        ["train", labels, "--target", "t", "-o", tmp_path / "l.npz", *common],
        ["predict", tmp_path / "l.npz", labels],
        ["train", dup, "--target", "t", "-o", tmp_path / "d.npz", *common],
        ["train", latin, "--target", "t", "-o", tmp_path / "e.npz", *common],
        ["train", latin, "--target", "t", "-o", tmp_path / "e.npz", "--encoding", "latin-1",
         *common])
    assert results[0].returncode == 0 and "(regression)" in results[0].stdout
    assert anynet.load(tmp_path / "r.npz").loss == "mse"
    assert results[1].returncode == 0 and f"({len(np.unique(y))} classes)" in results[1].stdout
    _one_error_line(results[2], "nan.csv, row 3, column 't': the target 'nan' is not a finite")
    assert results[3].returncode == 0 and anynet.load(tmp_path / "l.npz").classes == (
        "007", "7")
    assert set(results[4].stdout.split()[1:]) <= {"007", "7"}
    _one_error_line(results[5], "dup.csv: the column name 'a' appears twice")
    _one_error_line(results[6], "latin.csv, line 1: byte 0xf6 is not utf-8 text",
                    "--encoding latin-1")
    assert results[7].returncode == 0, results[7].stderr


def test_the_new_options(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((80, 2))
    rows = [[f"id{i}", p, q, "yes" if p + q > 0 else "no"] for i, (p, q) in enumerate(X)]
    data = _write_csv(tmp_path / "d.csv", ["id", "p", "q", "label"], rows, delimiter=";")
    model, ckpt = tmp_path / "m.npz", tmp_path / "run.npz"
    train = ["train", data, "--target", "label", "--sep", ";", "--drop", "id", "--quiet",
             "--backend", "numpy", "--hidden", "8", "-o", model]
    results = run_many(
        [*train, "--epochs", "3", "--checkpoint", ckpt, "--dtype", "float64",
         "--weight-decay", "0.001", "--optimizer", "sgd"],
        [*train, "--epochs", "6", "--checkpoint", ckpt, "--resume", "--dtype", "float64",
         "--weight-decay", "0.001", "--optimizer", "sgd"],
        [*train, "--epochs", "300", "--early-stopping", "--patience", "2", "--lr", "0.05"],
        ["evaluate", model, data, "--sep", ";"],
        ["--version"],
        ["train", "--help"])
    for result in results[:4]:
        assert result.returncode == 0, result.stderr
    assert "(3 epochs" in results[0].stdout and "(6 epochs" in results[1].stdout
    net = anynet.load(ckpt)
    assert net.dtype == "float64" and net.optimizer.weight_decay == 0.001
    epochs = int(results[2].stdout.split(" epochs,")[0].rsplit("(", 1)[1])
    assert epochs < 300  # early stopping stopped it
    net = anynet.load(model)
    assert net.metadata["features"] == ["p", "q"] and net.classes == ("no", "yes")
    assert results[3].stdout.startswith("accuracy 0.") and "on 80 samples" in results[3].stdout
    assert results[4].stdout == f"anynet {anynet.__version__}\n"
    help_text = " ".join(results[5].stdout.split())
    for default in ["(default: 100)", "(default: relu)", "(default: 0.01)", "(default: 200)",
                    "(default: auto)", "(default: float32)", "(default: 0.1, and none below "
                    "20 rows)"]:
        assert default in help_text, default


def test_ctrl_c_saves_says_so_and_exits_130(tmp_path):
    import os
    import re
    import select
    import signal
    import time
    model = tmp_path / "m.npz"
    training = subprocess.Popen([sys.executable, "-m", "anynet", "train", "xor", "--epochs",
                                 "1000000", "--hidden", "4", "--backend", "numpy", "-o", model],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen, deadline = "", time.monotonic() + 60
    while not re.search(r"\| *[1-9]\d*/1000000", seen) and time.monotonic() < deadline:
        if select.select([training.stderr], [], [], 0.5)[0]:  # the bar shows epochs done
            seen += os.read(training.stderr.fileno(), 4096).decode()
    training.send_signal(signal.SIGINT)
    out, err = training.communicate(timeout=60)
    assert training.returncode == 130, err
    assert re.search(r"training stopped early \(interrupted\) during epoch \d+ of 1000000; "
                     r"saved the network trained so far", err), err
    assert f"saved {model}" in out and anynet.load(model).layer_sizes == (2, 4, 1)


def test_plot_without_matplotlib_fails_before_training(tmp_path):
    import os
    fake = tmp_path / "fake" / "matplotlib"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError(\"No module named 'matplotlib'\")\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(fake.parent), os.environ.get("PYTHONPATH", "")]))
    result = subprocess.run([sys.executable, "-m", "anynet", "train", "xor", "--epochs",
                             "100000", "--plot", tmp_path / "p.png", "-o", tmp_path / "m.npz"],
                            capture_output=True, text=True, timeout=120, env=env)
    _one_error_line(result, "--plot needs matplotlib: pip install matplotlib")
    assert not (tmp_path / "m.npz").exists()


def test_predict_names_the_expected_columns(tmp_path):
    X = np.random.default_rng(2).standard_normal((30, 3))
    data = _write_csv(tmp_path / "d.csv", ["u", "v", "w", "t"],
                      [[*row, int(row[0] > 0)] for row in X])
    model = tmp_path / "m.npz"
    np.save(tmp_path / "wide.npy", np.ones((5, 7)))
    results = run_many(["train", data, "--target", "t", "--quiet", "--epochs", "3",
                        "--backend", "numpy", "-o", model],
                       ["predict", model, tmp_path / "wide.npy"],
                       ["predict", model, data, "-o", data],
                       ["predict", model, data, "-o", model])
    assert results[0].returncode == 0, results[0].stderr
    _one_error_line(results[1], "wide.npy: 7 columns, but the model", "expects its 3 feature "
                    "columns ('u', 'v', 'w') or the 4 columns it was trained on (the target "
                    "in column 3)")
    _one_error_line(results[2], "-o", "is the input file")
    _one_error_line(results[3], "-o", "is the input file")


def test_a_multilabel_model_predicts_one_column_per_label(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    np.savez(tmp_path / "ml.npz", X=X, y=(X > 0).astype(int))
    model, out = tmp_path / "m.npz", tmp_path / "p.csv"
    trained, predicted = run_many(
        ["train", tmp_path / "ml.npz", "-o", model, "--epochs", "20", "--quiet",
         "--backend", "numpy"],
        ["predict", model, tmp_path / "ml.npz", "--proba", "-o", out])
    assert trained.returncode == 0 and predicted.returncode == 0, predicted.stderr
    rows = list(csv.reader(out.read_text().splitlines()))
    assert rows[0] == ["prediction_0", "prediction_1", "prediction_2",
                       "proba_0", "proba_1", "proba_2"]
    assert all(r[0] in ("0", "1") and len(r) == 6 for r in rows[1:])
