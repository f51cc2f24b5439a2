"""The command line on the files people have: every command reads the model's own
columns, says what it did, writes predictions in full, and refuses what it cannot read."""
import contextlib
import csv
import gzip
import io
import os
import subprocess

import numpy as np
import pytest

import anynet
from anynet import _cli_columns, _csv, _tables
from anynet.__main__ import main

pytest.importorskip("pandas")

QUIET = ["--quiet", "--backend", "numpy"]


def run_many(*commands):
    """Command lines through anynet's entry point (what the ``anynet`` script calls),
    in this process: a fresh interpreter per command would cost more than most of
    them (test_cli.py runs the command itself in subprocesses)."""
    results = []
    for command in commands:
        argv = [str(a) for a in command]
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse's errors
                code = exc.code
        results.append(subprocess.CompletedProcess(argv, code, out.getvalue(),
                                                   err.getvalue()))
    return results


def one_error_line(result, *fragments):
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("anynet: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def ok(result):
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def write_csv(path, header, rows, sep=",", opener=open):
    with opener(path, "wt", newline="") as f:
        w = csv.writer(f, delimiter=sep)
        w.writerow(header)
        w.writerows(rows)
    return path


def predictions(result):
    return [line.split(",") for line in result.stdout.splitlines()[1:]]


# --- 1. every command reads the columns the model was trained on ----------------------

def test_npy_target_anywhere_and_every_file_type_maps_alike(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = X @ [1.0, -2.0, 0.5]
    np.save(tmp_path / "t0.npy", np.column_stack([y, X]))  # the target first
    np.save(tmp_path / "mid.npy", np.column_stack([X[:, 0], y, X[:, 1:]]))
    np.save(tmp_path / "features.npy", X)
    np.save(tmp_path / "wide.npy", np.ones((5, 7)))
    np.savez(tmp_path / "xy.npz", X=X, y=y)
    write_csv(tmp_path / "t0.csv", ["y", "a", "b", "c"], np.column_stack([y, X]).tolist())
    write_csv(tmp_path / "ids.csv", ["a", "key", "b", "c"],
              [[a, f"k{i}", b, c] for i, (a, b, c) in enumerate(X.tolist())])
    m0, mid = tmp_path / "m0.npz", tmp_path / "mid.npz"
    train = ["--epochs", "150", "--dtype", "float64", "--hidden", "16", *QUIET]
    r = run_many(
        ["train", tmp_path / "t0.npy", "--target", "0", "-o", m0, *train],
        ["evaluate", m0, tmp_path / "t0.npy"],
        ["evaluate", m0, tmp_path / "t0.csv"],  # an array model reads a CSV by position
        ["evaluate", m0, tmp_path / "xy.npz"],
        ["predict", m0, tmp_path / "t0.npy"],
        ["predict", m0, tmp_path / "features.npy"],
        ["predict", m0, tmp_path / "xy.npz"],
        ["evaluate", m0, tmp_path / "features.npy"],
        ["evaluate", m0, tmp_path / "t0.npy", "--target", "0"],
        ["train", tmp_path / "mid.npy", "--target", "1", "--drop", "x2", "-o", mid, *train],
        ["evaluate", mid, tmp_path / "mid.npy"],
        ["predict", mid, tmp_path / "mid.npy"],
        ["predict", mid, tmp_path / "wide.npy"],
        ["predict", m0, tmp_path / "ids.csv", "--id", "key"],
        ["predict", m0, tmp_path / "features.npy", "--id", "key"])
    ok(r[0])
    assert r[0].stdout.startswith("task: regression (inferred: the target (column 0) holds "
                                  "numbers with fractions")
    scores = [float(result.stdout.split()[1]) for result in map(ok, r[1:4])]
    assert scores[0] > 0.95 and scores[0] == scores[1] == scores[2]
    assert predictions(ok(r[4])) == predictions(ok(r[5])) == predictions(ok(r[6]))
    net = anynet.load(m0)
    assert net.metadata["cli_columns"]["target"] == 0
    assert net.metadata["cli_columns"]["inputs"] == [1, 2, 3]
    np.testing.assert_allclose([float(p[0]) for p in predictions(r[4])],
                               net.predict(X)[:, 0], rtol=0, atol=0)
    one_error_line(r[7], "features.npy: 3 columns, all of them the model's features",
                   "--target")
    assert float(ok(r[8]).stdout.split()[1]) == scores[0]
    ok(r[9])
    net = anynet.load(mid)
    assert net.metadata["cli_columns"]["inputs"] == [0, 2]  # x2, the file's column 3, dropped
    assert float(ok(r[10]).stdout.split()[1]) > 0.5
    np.testing.assert_array_equal([float(p[0]) for p in predictions(ok(r[11]))],
                                  net.predict(X[:, [0, 1]])[:, 0])
    one_error_line(r[12], "wide.npy: 7 columns, but the model", "expects its 2 feature "
                   "columns or the 4 columns it was trained on (the target in column 1) or "
                   "those 3 without the target")
    with_ids = predictions(ok(r[13]))  # an array model reads a CSV by position, but --id
    assert [p[0] for p in with_ids] == [f"k{i}" for i in range(200)]
    assert [p[1:] for p in with_ids] == predictions(r[5])
    one_error_line(r[14], "--id names a column of a CSV file; ", "features.npy has no names")


def test_a_csv_model_reads_its_columns_by_name_in_any_order(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((120, 3))
    label = np.where(X[:, 0] - X[:, 2] > 0, "up", "down")
    rows = [[f"r{i}", *x, t] for i, (x, t) in enumerate(zip(X.tolist(), label))]
    data = write_csv(tmp_path / "d.csv", ["id", "a", "b", "c", "t"], rows)
    shuffled = write_csv(tmp_path / "s.csv", ["t", "c", "extra", "a", "b"],
                         [[t, x[2], "zzz", x[0], x[1]] for x, t in zip(X.tolist(), label)])
    lacking = write_csv(tmp_path / "l.csv", ["a", "c"], X[:, [0, 2]].tolist())
    np.save(tmp_path / "same.npy", X[:, [0, 1, 2]])
    model = tmp_path / "m.npz"
    r = run_many(["train", data, "--target", "t", "--drop", "id", "--epochs", "40",
                  "-o", model, *QUIET],
                 ["predict", model, data], ["predict", model, shuffled],
                 ["predict", model, tmp_path / "same.npy"],
                 ["evaluate", model, data], ["evaluate", model, shuffled],
                 ["predict", model, lacking], ["evaluate", model, lacking])
    ok(r[0])
    assert predictions(ok(r[1])) == predictions(ok(r[2])) == predictions(ok(r[3]))
    assert ok(r[4]).stdout.split()[1] == ok(r[5]).stdout.split()[1]
    one_error_line(r[6], "l.csv: no column 'b'")
    one_error_line(r[7], "l.csv: no column")


def test_models_without_a_column_record_still_load(tmp_path):
    """A model of the old command on a .npy with --target 0 kept only "target": "0"."""
    rng = np.random.default_rng(2)
    X = rng.standard_normal((100, 2))
    y = X @ [1.0, 1.0]
    net = anynet.train(X, y, epochs=100, backend="numpy", dtype="float64", verbose=False,
                       standardize=True)
    net.metadata = {"features": ["x0", "x1"], "target": "0", "data": "d.npy"}
    model = anynet.save(net, tmp_path / "old.npz")
    np.save(tmp_path / "d.npy", np.column_stack([y, X]))
    r = run_many(["evaluate", model, tmp_path / "d.npy"], ["predict", model, tmp_path / "d.npy"])
    assert float(ok(r[0]).stdout.split()[1]) == pytest.approx(net.score(X, y), abs=1e-4)
    assert len(predictions(ok(r[1]))) == 100


def test_a_damaged_column_record_is_one_line(tmp_path):
    net = anynet.train(np.ones((6, 2)), [0, 1] * 3, epochs=1, backend="numpy", verbose=False)
    np.save(tmp_path / "x.npy", np.ones((3, 2)))
    cases = [{"version": 1, "kind": "array", "width": 2, "names": None, "inputs": [0, 5],
              "target": None, "categories": {}},
             {"version": 99},
             {"version": 1, "kind": "csv", "width": 2, "names": ["a", "b"],
              "inputs": ["a", "b"], "target": 3, "categories": {}}]
    models = []
    for i, record in enumerate(cases):
        net.metadata = {"cli_columns": record}
        models.append(anynet.save(net, tmp_path / f"bad{i}.npz"))
    for result in run_many(*[["predict", m, tmp_path / "x.npy"] for m in models]):
        one_error_line(result, "its metadata 'cli_columns' is damaged")


# --- 2. the task: inferred, said on the first line, or asked for ----------------------

@pytest.mark.parametrize("seed", range(6))
def test_the_task_rule_at_random(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 3000))
    k = int(rng.integers(1, n + 1))
    y = rng.permutation(np.resize(np.arange(k) * int(rng.integers(1, 5)) + 18, n))
    if k <= 10:
        assert _tables.task_and_reason(y)[0] == "classify"
    elif 5 * k > n:
        assert _tables.task_and_reason(y)[0] == "regress"
    else:
        with pytest.raises(ValueError, match="--task regress or --task classify"):
            _tables.task_and_reason(y)
    assert _tables.task_and_reason(y + 0.5)[0] == "regress"
    assert _tables.task_and_reason(y.astype(str))[0] == "classify"


def test_integer_quantities_are_not_silently_classes(tmp_path):
    rng = np.random.default_rng(3)
    a = rng.standard_normal(2000)
    age = np.clip(np.round(50 + 15 * a + rng.normal(0, 3, 2000)), 18, 89).astype(int)
    data = write_csv(tmp_path / "age.csv", ["a", "age"], zip(a.tolist(), age.tolist()))
    few = write_csv(tmp_path / "few.csv", ["a", "k"], zip(a.tolist(), (age % 3).tolist()))
    r = run_many(["train", data, "--target", "age", "-o", tmp_path / "m.npz", *QUIET],
                 ["train", data, "--target", "age", "--task", "regress", "--epochs", "2",
                  "-o", tmp_path / "m.npz", *QUIET],
                 ["train", few, "--target", "k", "--epochs", "1", "-o", tmp_path / "k.npz",
                  *QUIET])
    one_error_line(r[0], f"the target 'age' holds {len(np.unique(age))} distinct whole "
                         f"numbers in 2,000 rows", "--task regress or --task classify")
    assert ok(r[1]).stdout.startswith("task: regression (as --task regress says)\n")
    assert anynet.load(tmp_path / "m.npz").loss == "mse"
    assert ok(r[2]).stdout.splitlines()[0] == (
        "task: classification (inferred: the target 'k' holds 3 distinct whole numbers (at "
        "most 10: class labels); override with --task regress)")


# --- 3. predictions in full, ids passed through ------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predictions_read_back_as_the_same_numbers(tmp_path, dtype):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((60, 2))
    y = 1289390.1 + 1e5 * X[:, 0] + rng.normal(0, 10, 60)
    rows = [[f"house-{i}", *x, t] for i, (x, t) in enumerate(zip(X.tolist(), y.tolist()))]
    data = write_csv(tmp_path / "h.csv", ["house", "a", "b", "price"], rows)
    model, out = tmp_path / "m.npz", tmp_path / "p.csv"
    r = run_many(["train", data, "--target", "price", "--drop", "house", "--dtype", dtype,
                  "--epochs", "3", "-o", model, *QUIET],
                 ["predict", model, data, "--id", "house", "-o", out],
                 ["predict", model, data, "--id", "nope"])
    ok(r[0]), ok(r[1])
    table = list(csv.reader(out.read_text().splitlines()))
    assert table[0] == ["house", "prediction"]
    assert [row[0] for row in table[1:]] == [f"house-{i}" for i in range(60)]
    expected = anynet.load(model).predict(X)[:, 0]
    kind = np.float32 if dtype == "float32" else np.float64
    got = np.array([kind(row[1]) for row in table[1:]], dtype=kind)
    np.testing.assert_array_equal(got, expected)  # every digit, none invented
    assert all(len(row[1]) <= (10 if dtype == "float32" else 18) + 6 for row in table[1:])
    one_error_line(r[2], "no column 'nope'")


def test_predictions_to_dash_go_to_standard_output(tmp_path, monkeypatch):
    """``-o -`` is standard output, as for other command-line tools: no file named "-"."""
    monkeypatch.chdir(tmp_path)
    rows = [[float(i), float(i % 3)] for i in range(30)]
    data = write_csv(tmp_path / "d.csv", ["x", "k"], rows)
    r = run_many(["train", data, "--target", "k", "--task", "regress", "--epochs", "2",
                  "-o", tmp_path / "m.npz", *QUIET],
                 ["predict", tmp_path / "m.npz", data, "-o", "-"],
                 ["predict", tmp_path / "m.npz", data])
    ok(r[0])
    assert ok(r[1]).stdout == ok(r[2]).stdout
    assert r[1].stdout.splitlines()[0] == "prediction" and len(r[1].stdout.splitlines()) == 31
    assert not (tmp_path / "-").exists()
    # a model, a plot or an ONNX graph is a file: "-" is refused, not made a file
    r = run_many(["train", data, "--target", "k", "--task", "regress", "--epochs", "2",
                  "-o", "-", *QUIET],
                 ["train", data, "--target", "k", "--task", "regress", "--epochs", "2",
                  "-o", tmp_path / "n.npz", "--plot", "-", *QUIET],
                 ["export", tmp_path / "m.npz", "-o", "-"])
    one_error_line(r[0], "-o -: this command writes a file there")
    one_error_line(r[1], "--plot -: this command writes a file there")
    one_error_line(r[2], "-o -: this command writes a file there")
    assert not (tmp_path / "-").exists() and not (tmp_path / "n.npz").exists()


# --- 4. say what was done -----------------------------------------------------------------

def test_validation_is_said_and_never_silent(tmp_path):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((100, 2))
    np.savez(tmp_path / "d.npz", X=X, y=(X[:, 0] > 0).astype(int))
    common = ["--epochs", "2", *QUIET]
    r = run_many(["train", tmp_path / "d.npz", "-o", tmp_path / "a.npz", *common],
                 ["train", tmp_path / "d.npz", "--validation-split", "0", "--early-stopping",
                  "-o", tmp_path / "b.npz", *common],
                 ["train", tmp_path / "d.npz", "--validation-split", "0", "-o",
                  tmp_path / "c.npz", *common],
                 ["train", "xor", "-o", tmp_path / "x.npz", *common],
                 ["train", "xor", "--early-stopping", "-o", tmp_path / "y.npz", *common],
                 ["train", tmp_path / "d.npz", "--validation-split", "0.25", "-o",
                  tmp_path / "e.npz", *common])
    assert "validation: holding out 10 of 100 rows (0.1); training on 90" in ok(r[0]).stdout
    assert "on 90 of 100 rows, 10 held out (2 classes)" in r[0].stdout
    one_error_line(r[1], "--early-stopping watches rows held out to validate",
                   "--validation-split 0 holds out none")
    assert "validation: none (--validation-split 0); training on all 100 rows" in \
        ok(r[2]).stdout and "on 100 rows (2 classes)" in r[2].stdout
    assert "validation: none (4 rows are too few to hold out" in ok(r[3]).stdout
    assert "trained 2-100-1 on 4 rows" in r[3].stdout
    one_error_line(r[4], "4 rows are too few to hold out by default")
    assert "on 75 of 100 rows, 25 held out" in ok(r[5]).stdout
    assert not (tmp_path / "b.npz").exists() and not (tmp_path / "y.npz").exists()


# --- 5. the files people have -------------------------------------------------------------

def _churn(rng, n=150):
    tenure = rng.uniform(0, 70, n)
    plan = rng.choice(["basic", "pro", "family"], n)
    churned = np.where((plan == "basic") & (tenure < 35), "yes", "no")
    return [[f"c{i}", f"{t:.2f}", p, c] for i, (t, p, c) in
            enumerate(zip(tenure, plan, churned))]


@pytest.mark.parametrize("sep, name, opener", [
    (",", "d.csv", open), (";", "d.csv", open), ("\t", "d.csv", open), ("|", "d.csv", open),
    ("\t", "d.tsv", open), (",", "d.tsv", open), (",", "d.csv.gz", gzip.open),
    (";", "d.csv.gz", gzip.open), ("\t", "d.tsv.gz", gzip.open)])
def test_separators_and_compressed_files_read_alike(tmp_path, sep, name, opener):
    rows = _churn(np.random.default_rng(6))
    header = ["customer", "tenure", "plan", "churned"]
    path = write_csv(tmp_path / name, header, rows, sep=sep, opener=opener)
    reference = write_csv(tmp_path / "ref.csv", header, rows)
    args = dict(target="churned", drop=["customer"], decimal=".", encoding="utf-8")
    got = _cli_columns.training_data(_args(path, sep=None, **args), None)
    want = _cli_columns.training_data(_args(reference, sep=",", **args), None)
    np.testing.assert_array_equal(got.X, want.X)
    np.testing.assert_array_equal(got.y, want.y)
    assert got.record == dict(want.record)
    word = _csv.SEPARATORS[sep]
    assert got.notes[0].endswith(f"{word} separated (detected; --sep to override)")


def _args(data, **options):
    from types import SimpleNamespace
    return SimpleNamespace(data=data, **options)


def test_sep_and_decimal_overrides(tmp_path):
    rows = _churn(np.random.default_rng(7))
    header = ["customer", "tenure", "plan", "churned"]
    european = write_csv(tmp_path / "eu.csv", header,
                         [[c, t.replace(".", ","), p, k] for c, t, p, k in rows], sep=";")
    dotted = write_csv(tmp_path / "dot.csv", header, rows)
    common = ["--target", "churned", "--drop", "customer", "--epochs", "5", *QUIET]
    r = run_many(["train", european, "--decimal", ",", "-o", tmp_path / "eu.npz", *common],
                 ["train", dotted, "-o", tmp_path / "dot.npz", *common],
                 ["train", european, "--sep", ",", "-o", tmp_path / "x.npz", *common],
                 ["train", european, "-o", tmp_path / "y.npz", *common],
                 ["predict", tmp_path / "dot.npz", european, "--decimal", ","],
                 ["predict", tmp_path / "dot.npz", dotted])
    ok(r[0]), ok(r[1])
    eu, dot = anynet.load(tmp_path / "eu.npz"), anynet.load(tmp_path / "dot.npz")
    X = np.random.default_rng(0).uniform(0, 1, (20, 4))
    np.testing.assert_array_equal(eu.predict(X), dot.predict(X))  # the same training
    one_error_line(r[2], "no column 'churned'")
    one_error_line(r[3], "column 'tenure' holds numbers written with ',' as the decimal mark "
                   "(e.g. '", "give --decimal ,")
    assert ok(r[4]).stdout == ok(r[5]).stdout


@pytest.mark.parametrize("pattern, sep", [("{i},{j:03d},{k:03d}", ","),
                                          ("{i}.{j:03d}.{k:03d}", ";")])
def test_thousands_separators_are_named_not_taken_for_a_decimal_mark(tmp_path, pattern, sep):
    """"1,000,016" is a number with grouping marks: the advice is not --decimal , (which
    would misread it), but to write it without them or drop the column."""
    bigs = [pattern.format(i=i, j=100 + i, k=200 + i) for i in range(1, 30)]
    rows = [[i, f"0.{i}", big, "yes" if i % 2 else "no"] for i, big in enumerate(bigs, 1)]
    data = write_csv(tmp_path / "t.csv", ["id", "a", "big", "churned"], rows, sep=sep)
    r = run_many(["train", data, "--target", "churned", "--drop", "id", "-o",
                  tmp_path / "m.npz", *QUIET])
    one_error_line(r[0], f"column 'big' holds numbers written with {pattern[3]!r} between "
                         f"thousands (e.g. {bigs[0]!r})", "--drop big")


@pytest.mark.parametrize("seed", range(4))
def test_text_columns_are_one_hot_as_scikit_learn_encodes_them(tmp_path, seed):
    preprocessing = pytest.importorskip("sklearn.preprocessing")
    rng = np.random.default_rng(seed)
    n, n_text = int(rng.integers(5, 60)), int(rng.integers(1, 4))
    words = ["b", "a", "zeta", "Alpha", "ä", "1x", "mid dle"]
    text = [rng.choice(words[:int(rng.integers(1, len(words)))], n) for _ in range(n_text)]
    numbers = rng.standard_normal((n, 2))
    header = ["u", *[f"t{i}" for i in range(n_text)], "v", "y"]
    rows = [[numbers[r, 0], *[t[r] for t in text], numbers[r, 1], r % 2] for r in range(n)]
    path = write_csv(tmp_path / "d.csv", header, rows)
    data = _cli_columns.training_data(_args(path, target="y", drop=[], sep=None, decimal=".",
                                            encoding="utf-8"), None)
    encoder = preprocessing.OneHotEncoder(sparse_output=False)
    expected = np.column_stack([numbers[:, 0], encoder.fit_transform(np.column_stack(text)),
                                numbers[:, 1]])
    np.testing.assert_array_equal(data.X, expected)
    assert [data.record["categories"][f"t{i}"] for i in range(n_text)] == \
        [c.tolist() for c in encoder.categories_]
    names = encoder.get_feature_names_out([f"t{i}" for i in range(n_text)]).tolist()
    assert data.features == ["u", *names, "v"]


def test_categories_are_saved_and_unseen_ones_said_or_ignored(tmp_path):
    rows = _churn(np.random.default_rng(8))
    header = ["customer", "tenure", "plan", "churned"]
    data = write_csv(tmp_path / "d.csv", header, rows)
    new = write_csv(tmp_path / "new.csv", ["customer", "plan", "tenure"],
                    [["n1", "pro", "10"], ["n2", "gold", "3"], ["n3", "basic", "3"]])
    model = tmp_path / "m.npz"
    r = run_many(["train", data, "--target", "churned", "--drop", "customer", "--epochs",
                  "30", "-o", model, *QUIET],
                 ["predict", model, new, "--proba"],
                 ["predict", model, new, "--proba", "--handle-unknown", "ignore", "--id",
                  "customer"],
                 ["evaluate", model, data],
                 ["predict", model, tmp_path / "x.npy"])
    assert "one-hot encoded the text column 'plan' (3)" in ok(r[0]).stdout
    net = anynet.load(model)
    assert net.metadata["cli_columns"]["categories"] == {"plan": ["basic", "family", "pro"]}
    assert net.metadata["features"] == ["tenure", "plan_basic", "plan_family", "plan_pro"]
    one_error_line(r[1], "new.csv, row 3, column 'plan': the category 'gold' was not seen",
                   "'basic', 'family', 'pro'", "--handle-unknown ignore")
    lines = ok(r[2]).stdout.splitlines()
    assert lines[0].startswith("customer,prediction,proba_no,proba_yes")
    P = net.predict(np.array([[10, 0, 0, 1], [3, 0, 0, 0], [3, 1, 0, 0]], dtype=float))
    assert [float(line.split(",")[2]) for line in lines[1:]] == \
        pytest.approx(P[:, 0].tolist(), abs=1e-6)  # proba_no; gold's row: all plans 0
    assert float(ok(r[3]).stdout.split()[1]) > 0.8


def test_drop_lists_checkpoint_every_and_device(tmp_path, monkeypatch):
    rows = _churn(np.random.default_rng(9))
    data = write_csv(tmp_path / "d.csv", ["customer", "tenure", "plan", "churned"], rows)
    written = []
    import anynet.training
    real = anynet.training.write_checkpoint
    monkeypatch.setattr(anynet.training, "write_checkpoint",
                        lambda path, state, *a, **k: (written.append(state.epoch),
                                                      real(path, state, *a, **k))[1])
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(["train", str(data), "--target", "churned", "--drop", "customer,plan",
                     "--epochs", "7", "--checkpoint", str(tmp_path / "c.npz"),
                     "--checkpoint-every", "3", "--device", "cpu", "-o",
                     str(tmp_path / "m.npz"), *QUIET])
    assert code == 0, out.getvalue()
    assert written == [3, 6]
    assert anynet.load(tmp_path / "m.npz").metadata["features"] == ["tenure"]
    r = run_many(["train", data, "--target", "churned", "--drop", "customer, nope",
                  "-o", tmp_path / "x.npz", *QUIET],
                 ["train", data, "--target", "churned", "--drop", "customer", "--device",
                  "cuda:7", "-o", tmp_path / "y.npz", *QUIET],
                 ["train", data, "--target", "churned", "--drop", "customer",
                  "--checkpoint-every", "0", "-o", tmp_path / "z.npz", *QUIET],
                 ["train", data, "--target", "churned", "-o", tmp_path / "w.npz", *QUIET])
    one_error_line(r[0], "no column 'nope'")
    one_error_line(r[1], "cuda:7")
    one_error_line(r[2], "--checkpoint-every", "must be an integer >= 1")
    one_error_line(r[3], "column 'customer' holds 150 distinct texts in 150 rows",
                   "--drop customer")  # an id is not one-hot encoded into 150 columns


# --- 6. fast reading: no per-column search ------------------------------------------------

def test_a_file_of_100000_columns_reads_as_numpy_reads_it(tmp_path):
    rng = np.random.default_rng(10)
    values = np.round(rng.standard_normal((4, 100_000)), 3)
    values[:, -1] = [0, 1, 0, 1]
    path = tmp_path / "wide.csv"
    with open(path, "w") as f:
        f.write(",".join(f"c{j}" for j in range(99_999)) + ",t\n")
        for row in values:
            f.write(",".join(f"{v:.3f}" for v in row[:-1]) + f",{int(row[-1])}\n")
    data = _cli_columns.training_data(_args(path, target="t", drop=["c5"], sep=None,
                                            decimal=".", encoding="utf-8"), None)
    np.testing.assert_array_equal(data.X, np.delete(values[:, :-1], 5, axis=1))
    assert data.y.tolist() == [0, 1, 0, 1] and len(data.features) == 99_998


@pytest.mark.parametrize("text, message", [
    ("a,b,t\n1,2,0\n3,,1\n", "row 3, column 'b': missing value"),
    ("a,b,t\n1,2,0\n\n3,x,1\n", "row 4, column 'b': 'x' is not a number"),
    ("a,b,t\n1,2,0\n3,4\n", "row 3: 2 fields, but the header has 3"),
    ("a,b,t\n1,inf,0\n3,4,1\n", "row 2, column 'b': 'inf' is not finite"),
])
def test_the_wide_reader_falls_back_to_name_the_cell(tmp_path, monkeypatch, text, message):
    monkeypatch.setattr(_csv, "WIDE", 2)  # this small file takes the wide files' path
    path = tmp_path / "d.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        _cli_columns.training_data(_args(path, target="t", drop=[], sep=None, decimal=".",
                                         encoding="utf-8"), "classify")
    path.write_text("a,b,t\n1,2,x\n\n3,4,y\n")
    data = _cli_columns.training_data(_args(path, target="t", drop=[], sep=None,
                                            decimal=".", encoding="utf-8"), None)
    assert data.X.tolist() == [[1, 2], [3, 4]] and data.y.tolist() == ["x", "y"]


# --- 7. hostile files: every command checks its inputs alike ------------------------------

@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifos_and_devices_are_refused_by_every_command(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.ones((30, 2)), y=[0, 1] * 15)
    model = tmp_path / "m.npz"
    ok(run_many(["train", tmp_path / "d.npz", "--epochs", "1", "-o", model, *QUIET])[0])
    for name in ["fifo.csv", "fifo.npy", "fifo.csv.gz"]:
        os.mkfifo(tmp_path / name)
    for name in ["zero.csv", "zero.npz", "zero.tsv"]:
        os.symlink("/dev/zero", tmp_path / name)
    commands = []
    for name in ["fifo.csv", "fifo.npy", "fifo.csv.gz", "zero.csv", "zero.npz", "zero.tsv"]:
        path = tmp_path / name
        commands += [["train", path, "--target", "t", "-o", tmp_path / "x.npz", *QUIET],
                     ["predict", model, path], ["evaluate", model, path]]
    for command, result in zip(commands, run_many(*commands)):
        path = command[1] if command[0] == "train" else command[-1]
        kind = "a FIFO (named pipe)" if path.name.startswith("fifo") else "a character device"
        one_error_line(result, f"not a regular file (it is {kind})")


def test_a_gzip_bomb_is_refused(tmp_path, monkeypatch):
    path = tmp_path / "bomb.csv.gz"
    with gzip.open(path, "wb") as f:
        f.write(b"a,t\n" + b"1,0\n" * 500_000)
    monkeypatch.setattr(_csv, "_GZ_INFLATION", (10, 1000))
    with pytest.raises(ValueError, match="bomb.csv.gz: it inflates to more than"):
        _cli_columns.training_data(_args(path, target="t", drop=[], sep=None, decimal=".",
                                         encoding="utf-8"), None)


@pytest.mark.parametrize("wide", [False, True])
def test_damaged_gzip_files_are_one_line(tmp_path, monkeypatch, wide):
    if wide:
        monkeypatch.setattr(_csv, "WIDE", 1)  # the loadtxt path meets the damage first
    data = gzip.compress(("a,t\n" + "1,0\n2,1\n" * 50_000).encode())
    (tmp_path / "cut.csv.gz").write_bytes(data[:len(data) // 2])
    (tmp_path / "plain.csv.gz").write_bytes(b"a,t\n1,0\n")
    model = tmp_path / "m.npz"
    r = run_many(["train", tmp_path / "cut.csv.gz", "--target", "t", "-o", model, *QUIET],
                 ["train", tmp_path / "plain.csv.gz", "--target", "t", "-o", model, *QUIET])
    one_error_line(r[0], "cut.csv.gz: cannot read: Compressed file ended")
    one_error_line(r[1], "plain.csv.gz: cannot read: Not a gzipped file")
    assert not model.exists()


def test_a_nameless_index_column_is_not_a_silent_feature(tmp_path):
    """pandas' to_csv writes the row index under an empty name: a feature that leaks."""
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({"a": rng.standard_normal(40), "t": np.arange(40) % 2})
    frame.to_csv(tmp_path / "d.csv")
    r = run_many(["train", tmp_path / "d.csv", "--target", "t", "-o", tmp_path / "m.npz",
                  *QUIET],
                 ["train", tmp_path / "d.csv", "--target", "t", "--drop", "unnamed_1",
                  "--epochs", "1", "-o", tmp_path / "m.npz", *QUIET])
    one_error_line(r[0], "column 1 has no name in the header", "--drop unnamed_1")
    ok(r[1])
    assert anynet.load(tmp_path / "m.npz").metadata["features"] == ["a"]


@pytest.mark.parametrize("seed", range(8))
def test_any_file_of_the_same_columns_reads_as_training_read_it(tmp_path, seed):
    """Round trip at random: train's columns, written again in another order, with another
    separator and decimal mark, an extra column, or as an array, read back for the model
    give the same network inputs."""
    from types import SimpleNamespace
    rng = np.random.default_rng(seed)
    n, n_num, n_text = int(rng.integers(25, 60)), int(rng.integers(1, 4)), int(rng.integers(0, 3))
    columns = {f"n{i}": np.round(rng.standard_normal(n), 4) for i in range(n_num)}
    columns.update({f"s{i}": rng.choice(["red", "green", "blue", "x y"], n)
                    for i in range(n_text)})
    columns["y"] = rng.integers(0, 3, n)
    names = list(columns)
    rng.shuffle(names)

    def write(path, order, sep, decimal, extra=False):
        header = order + (["extra"] if extra else [])
        rows = [[str(columns[c][r]).replace(".", decimal) for c in order] +
                (["zz"] if extra else []) for r in range(n)]
        return write_csv(path, header, rows, sep=sep)

    seps = list(_csv.SEPARATORS)
    sep = seps[int(rng.integers(len(seps)))]
    source = write(tmp_path / "train.csv", names, sep, ".")
    data = _cli_columns.training_data(_args(source, target="y", drop=[], sep=None, decimal=".",
                                            encoding="utf-8"), None)
    net = anynet.train(data.X, data.y, epochs=0, hidden=[2], backend="numpy", verbose=False)
    net.metadata = {"features": data.features, "target": "y", "data": str(source),
                    "cli_columns": data.record}
    other = list(names)
    rng.shuffle(other)
    decimal = "," if sep != "," and rng.random() < 0.5 else "."
    sep2 = ";" if decimal == "," else seps[int(rng.integers(len(seps)))]
    again = write(tmp_path / "again.csv", other, sep2, decimal, extra=bool(rng.random() < 0.5))
    args = SimpleNamespace(data=str(again), model="m.npz", sep=None, decimal=decimal,
                           encoding="utf-8", handle_unknown="error", target=None)
    got = _cli_columns.model_data(args, net, need_target=True, task="classify")
    np.testing.assert_array_equal(got.X, data.X)
    np.testing.assert_array_equal(got.y, data.y)
    if not n_text:  # an array of the training file's columns, by position
        np.save(tmp_path / "same.npy", np.column_stack([columns[c] for c in names]))
        args.data = str(tmp_path / "same.npy")
        got = _cli_columns.model_data(args, net, need_target=False, task="classify")
        np.testing.assert_array_equal(got.X, data.X)
