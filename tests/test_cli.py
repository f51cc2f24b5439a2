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
    assert "trained 2-16-8-3 on 90 samples" in result.stdout
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
