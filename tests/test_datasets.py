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
