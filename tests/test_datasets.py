"""anynet.datasets: generated problems, digits, and the user's CSV/npz/npy files."""
import numpy as np
import pytest

from anynet import datasets


@pytest.mark.parametrize("name", ["moons", "circles", "spirals"])
def test_generated_datasets_are_seeded_and_learnable(name):
    X, y = datasets.DATASETS[name]()
    X2, y2 = datasets.DATASETS[name]()
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(X, datasets.DATASETS[name](seed=1)[0])
    assert X.dtype == np.float64 and X.ndim == 2 and y.shape == (X.shape[0],)
    counts = np.bincount(y)
    assert counts.max() - counts.min() <= 1  # balanced classes


def test_xor_and_digits():
    X, y = datasets.xor()
    assert X.shape == (4, 2) and y.tolist() == [[0], [1], [1], [0]]
    pytest.importorskip("sklearn")
    X, y = datasets.digits()
    assert X.shape == (1797, 64) and sorted(set(y.tolist())) == list(range(10))


def test_load_csv(tmp_path):
    path = tmp_path / "iris.csv"
    path.write_text("width, length,species\n1.5,2,setosa\n\n2.5,3.25,virginica\n")
    X, y, names = datasets.load_csv(path, "species")
    np.testing.assert_array_equal(X, [[1.5, 2.0], [2.5, 3.25]])
    assert y.tolist() == ["setosa", "virginica"] and names == ["width", "length"]
    X, y, names = datasets.load_csv(path, features=["length"])
    assert y is None and X.tolist() == [[2.0], [3.25]]
    path.write_text("a,b,t\n1,2,3\n4,5,6\n")
    assert datasets.load_csv(path, "t")[1].dtype == np.int64
    path.write_text("a,b,t\n1,2,0.5\n4,5,6\n")
    assert datasets.load_csv(path, "t")[1].dtype == np.float64


@pytest.mark.parametrize("text, target, message", [
    ("", "t", "the file is empty"),
    ("a,b,t\n", "t", "a header but no rows"),
    ("a,b\n1,2\n", "t", r"no column 't'; the columns are \['a', 'b'\]"),
    ("a,b,t\n1,2,x\n1,,y\n", "t", r"row 3, column 'b': missing value"),
    ("a,b,t\n1,2,x\n1,two,y\n", "t", r"row 3, column 'b': 'two' is not a number"),
    ("a,b,t\n1,2,x\n1,2\n", "t", "row 3: 2 fields, but the header has 3"),
    ("a,b,t\n1,2,\n", "t", "row 2, column 't': missing value"),
    ("a,b,t\n1,inf,x\n", "t", "row 2, column 'b': 'inf' is not finite"),
])
def test_bad_csv(tmp_path, text, target, message):
    path = tmp_path / "data.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"data.csv.*{message}"):
        datasets.load_csv(path, target)


def test_load_npz_and_npy(tmp_path):
    X, y = np.arange(12.0).reshape(4, 3), np.array([0, 1, 0, 1])
    np.savez(tmp_path / "d.npz", X=X, y=y)
    got = datasets.load(str(tmp_path / "d.npz"))
    np.testing.assert_array_equal(got[0], X)
    np.testing.assert_array_equal(got[1], y)
    np.save(tmp_path / "d.npy", np.column_stack([X, y]))
    got = datasets.load(str(tmp_path / "d.npy"))
    np.testing.assert_array_equal(got[0], X)
    np.testing.assert_array_equal(got[1], y)
    got = datasets.load(str(tmp_path / "d.npy"), target="0")
    np.testing.assert_array_equal(got[1], X[:, 0])
    np.savez(tmp_path / "bad.npz", features=X)
    with pytest.raises(ValueError, match=r"bad.npz: cannot load: it lacks the arrays \['X', 'y'\]"):
        datasets.load(str(tmp_path / "bad.npz"))
    with pytest.raises(ValueError, match="neither a file nor a built-in dataset"):
        datasets.load("mnist")
    (tmp_path / "d.txt").write_text("1 2 3")
    with pytest.raises(ValueError, match="unknown file type"):
        datasets.load(str(tmp_path / "d.txt"))


# --- the task of a target, and labels kept as written ------------------------------

def test_infer_task():
    rng = np.random.default_rng(0)
    assert datasets.infer_task(np.repeat([0, 1, 2], 50)) == "classify"  # iris
    assert datasets.infer_task(rng.integers(0, 10, 1797)) == "classify"  # digits
    assert datasets.infer_task(np.array([0.0, 1.0, 1.0])) == "classify"
    assert datasets.infer_task(np.array(["a", "b"])) == "classify"
    assert datasets.infer_task(np.array([0.5, 1.0])) == "regress"
    assert datasets.infer_task(rng.integers(25, 346, 442).astype(float)) == "regress"


def test_a_real_valued_target_is_regression(tmp_path):
    """diabetes' 214 distinct whole-number targets in 442 rows, written as 151.0."""
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    X, y = sklearn_datasets.load_diabetes(return_X_y=True)
    assert len(np.unique(y)) == 214
    path = tmp_path / "diabetes.csv"
    path.write_text("a,b,target\n" + "".join(f"{p},{q},{t}\n" for (p, q), t in
                                             zip(X[:, :2], y)))
    got = datasets.load_csv(path, "target")[1]
    assert got.dtype == np.float64 and got.tolist() == y.tolist()
    path.write_text("a,target\n" + "".join(f"{p},{int(t)}\n" for p, t in zip(X[:, 0], y)))
    assert datasets.load_csv(path, "target")[1].dtype == np.float64  # "151" too
    assert datasets.load_csv(path, "target", task="classify")[1].dtype == np.int64
    np.savez(tmp_path / "d.npz", X=X, y=y.astype(np.int64))
    assert datasets.load(str(tmp_path / "d.npz"))[1].dtype == np.float64


def test_labels_stay_as_written(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("a,t\n1,007\n2,7\n3,007\n4,7\n")
    y = datasets.load_csv(path, "t")[1]
    assert y.tolist() == ["007", "7", "007", "7"]  # two classes, not one
    path.write_text("a,t\n1,1e19\n2,3e19\n3,1e19\n")
    y = datasets.load_csv(path, "t", task="classify")[1]
    assert len(set(y.tolist())) == 2
    path.write_text("a,t\n1,-3\n2,12\n3,0\n")
    assert datasets.load_csv(path, "t")[1].tolist() == [-3, 12, 0]


@pytest.mark.parametrize("written, sep, decimal", [
    (["0.0", "1.0"], ",", "."), (["0", "1.0"], ",", "."), (["0,0", "1,0"], ";", ","),
    (["-2.0", "5.0", "7"], ",", ".")])
def test_whole_numbers_written_as_floats_are_the_classes_an_array_gives(tmp_path, written,
                                                                         sep, decimal):
    """A column of floats writes 1 as "1.0": the same classes as the array of the same
    numbers (a model trained on the CSV then scores the .npz of the same data)."""
    path = tmp_path / "f.csv"
    rows = [f"{i}{sep}{written[i % len(written)]}" for i in range(12)]
    path.write_text(f"a{sep}t\n" + "\n".join(rows) + "\n")
    y = datasets.load_csv(path, "t", sep=sep, decimal=decimal, task="classify")[1]
    numbers = [float(w.replace(",", ".")) for w in written]
    assert y.dtype == np.int64
    assert y.tolist() == [int(numbers[i % len(written)]) for i in range(12)]


@pytest.mark.parametrize("text, task, message", [
    ("a,t\n1,2\n2,nan\n3,4\n", None, r"row 3, column 't': the target 'nan' is not a finite"),
    ("a,t\n1,2\n2,-inf\n", "classify", r"row 3, column 't': the target '-inf'"),
    ("a,t\n1,2\n2,two\n", "regress", r"row 3, column 't': 'two' is not a number, and the "
                                     r"task is regression"),
    ("a,a,t\n1,2,3\n", None, r"the column name 'a' appears twice \(columns 1 and 2\)"),
    ("a,t\n1,\"unclosed\n" + "x" * 140_000 + "\n", None,
     r"row 2: a quoted field never closes \(an unclosed quote\?\)"),
    ("a,t\n1,2\n\0,3\n", None, r"row 3, column 'a': '\\x00' is not a number"),
], ids=["nan", "-inf", "text", "duplicate", "long field", "NUL"])
def test_bad_targets_and_files_name_the_row(tmp_path, text, task, message):
    path = tmp_path / "data.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=f"data.csv, {message}" if "row" in message
                       else f"data.csv: {message}"):
        datasets.load_csv(path, "t", task=task)


def test_encodings_separators_and_dropped_columns(tmp_path):
    path = tmp_path / "café.csv"
    path.write_bytes("name;größe;t\nAnna;1,5;x\nZoë;2;y\n".replace(",", ".").encode("latin-1"))
    with pytest.raises(ValueError, match=r"café.csv, line 1: byte 0xf6 is not utf-8 text; "
                                         r"give the file's encoding, e.g. --encoding latin-1"):
        datasets.load_csv(path, "t", sep=";")
    with pytest.raises(ValueError, match="row 2, column 'name': 'Anna' is not a number"):
        datasets.load_csv(path, "t", sep=";", encoding="latin-1")
    X, y, names = datasets.load_csv(path, "t", sep=";", encoding="latin-1", drop=["name"])
    assert names == ["größe"] and X.tolist() == [[1.5], [2.0]] and y.tolist() == ["x", "y"]
    with pytest.raises(ValueError, match="no column 'nom'"):
        datasets.load_csv(path, "t", sep=";", encoding="latin-1", drop=["nom"])
    with pytest.raises(ValueError, match="the target column 't' cannot be dropped"):
        datasets.load_csv(path, "t", sep=";", encoding="latin-1", drop=["t", "name"])
    with pytest.raises(ValueError, match="unknown encoding 'klingon'"):
        datasets.load_csv(path, "t", encoding="klingon")
    (tmp_path / "bom.csv").write_bytes("\ufeffa,t\n1,x\n2,y\n".encode("utf-8"))
    assert datasets.load_csv(tmp_path / "bom.csv", "t")[2] == ["a"]
    X, y, names = datasets.load(str(tmp_path / "bom.csv"), "t", task="classify")
    np.save(tmp_path / "d.npy", np.arange(12.0).reshape(4, 3))
    X, y, names = datasets.load(str(tmp_path / "d.npy"), drop=["x0"])
    assert names == ["x1"] and X.tolist() == [[1.0], [4.0], [7.0], [10.0]]


# --- data files: the model files' guards ----------------------------------------------

def _npz_bytes(tmp_path, **arrays):
    np.savez(tmp_path / "ok.npz", **arrays)
    return bytearray((tmp_path / "ok.npz").read_bytes())


def test_damaged_and_hostile_data_files(tmp_path):
    import zipfile
    X, y = np.arange(12.0).reshape(4, 3), np.array([0, 1, 0, 1])
    good = _npz_bytes(tmp_path, X=X, y=y)
    crc = bytearray(good)
    crc[good.find(b"\x00\x00\x00\x00\x00\x00\xf0\x3f")] ^= 0xFF  # a byte of X's data
    header = np.lib.format.header_data_from_array_1_0(X)
    cases = {"crc.npz": (bytes(crc), "Bad CRC-32"),
             "cut.npz": (bytes(good[:len(good) - 30]), "truncated or corrupted"),
             "text.npz": (b"X,y\n1,2\n", "neither a .npz archive nor a .npy array")}
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=f"{name}: cannot load: .*{message}"):
            datasets.load(str(tmp_path / name))
    with open(tmp_path / "negative.npy", "wb") as f:
        np.lib.format.write_array_header_1_0(f, dict(header, shape=(-1, 3)))
        f.write(X.tobytes())
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", zipfile.ZIP_BZIP2) as z:
        z.writestr("X.npy", bytes(1 << 20))
        z.writestr("y.npy", bytes(1 << 20))
    np.savez(tmp_path / "nan.npz", X=X, y=np.array([0.5, np.nan, 1.0, 2.0]))
    np.savez(tmp_path / "objects.npz", X=np.array([[1, "a"]], dtype=object), y=[1])
    np.savez(tmp_path / "short.npz", X=X, y=[1, 2])
    for name, message in [("negative.npy", r"claims the shape \(-1, 3\)"),
                          ("bomb.npz", "NumPy never writes"),
                          ("nan.npz", r"the target of sample 1 \(counting from 0\) is nan"),
                          ("objects.npz", "Python objects"),
                          ("short.npz", "X has 4 samples but y has 2")]:
        with pytest.raises(ValueError, match=f"{name}: .*{message}"):
            datasets.load(str(tmp_path / name))


def test_compressed_data_loads(tmp_path):
    """numpy.savez_compressed data (a sparse X deflates ~200x) is not taken for a bomb."""
    rng = np.random.default_rng(0)
    X = np.where(rng.random((2000, 100)) < 0.01, 1.0, 0.0)
    np.savez_compressed(tmp_path / "sparse.npz", X=X, y=rng.integers(0, 2, 2000))
    got = datasets.load_npz(tmp_path / "sparse.npz")
    np.testing.assert_array_equal(got[0], X)
