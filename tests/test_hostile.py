"""Hostile and broken input: property-based data tests (hypothesis) and a model-file fuzzer.

Every case must either work or raise ValueError/TypeError with a message; none may
crash with another exception, change a network it was not meant to, or allocate
what a damaged file claims.
"""
import io
import time
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import anynet
from conftest import HOSTILE, host

DTYPES = [np.bool_, np.int8, np.int64, np.uint16, np.float16, np.float32, np.float64,
          np.complex128, np.object_, np.str_]


@st.composite
def datasets(draw):
    n = draw(st.integers(0, 6))
    f = draw(st.integers(0, 3))
    x_dtype = draw(st.sampled_from(DTYPES))
    y_dtype = draw(st.sampled_from(DTYPES))
    X = draw(hnp.arrays(x_dtype, (n, f), elements=_elements(x_dtype)))
    y_shape = draw(st.sampled_from([(n,), (n, 1), (n, 2), (max(n - 1, 0),)]))
    y = draw(hnp.arrays(y_dtype, y_shape, elements=_elements(y_dtype)))
    return X, y


def _elements(dtype):
    if dtype in (np.float16, np.float32, np.float64):
        return st.floats(-1e3, 1e3, width=np.dtype(dtype).itemsize * 8) | st.sampled_from(
            [np.nan, np.inf, -np.inf, 0.0])
    if dtype is np.object_:
        return st.sampled_from([1, "a", None, 2.5])
    if dtype is np.str_:
        return st.sampled_from(["a", "b", ""])
    if dtype is np.complex128:
        return st.complex_numbers(max_magnitude=10, allow_nan=False)
    return None


def _check(backend, X, y):
    """train either works or says what is wrong; a network given is untouched on error."""
    net = anynet.train(np.ones((4, max(X.shape[1], 1))), [0, 1, 0, 1], epochs=1,
                       backend=backend, verbose=False, hidden=(3,))
    before = {k: host(v) for k, v in net.items()}
    outcome = "trained"
    try:
        anynet.train(X, y, epochs=2, batch_size=2, backend=backend, verbose=False,
                     hidden=(3,))
    except (ValueError, TypeError) as exc:
        assert str(exc), "an error without a message"
        outcome = type(exc).__name__
    try:
        anynet.train(X, y, network=net, epochs=1, verbose=False)
    except (ValueError, TypeError):
        for key, value in before.items():
            np.testing.assert_array_equal(host(net[key]), value)
    return outcome


@pytest.mark.parametrize("backend", ["numpy", "array_api_strict"])
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=datasets())
def test_any_data_trains_or_is_refused_clearly(backend, data):
    if backend == "array_api_strict":
        pytest.importorskip("array_api_strict")
    outcome = _check(backend, *data)
    HOSTILE.setdefault(f"data on {backend}", {}).setdefault(outcome, 0)
    HOSTILE[f"data on {backend}"][outcome] += 1




def test_fuzzed_model_files(tmp_path):
    rng = np.random.default_rng(1)
    net = anynet.train(rng.standard_normal((20, 3)), rng.integers(0, 3, 20), hidden=(4,),
                       epochs=2, backend="numpy", verbose=False)
    good = anynet.save(net, tmp_path / "good.npz", optimizer=True).read_bytes()
    counts = _fuzz(tmp_path, 400, lambda path, case: path.write_bytes(
        _mutated_bytes(good, case % 4, rng)))
    HOSTILE["fuzzed model files"] = counts
    assert counts["ValueError"] > 200


def test_fuzzed_model_structures(tmp_path, good_model):
    """Issue 11's cases, mutated: forged header shapes, every compression method (and
    bombs), hostile JSON values (Infinity, NaN, 1e400, 5,000 digits, deep nesting)."""
    import json
    rng = np.random.default_rng(4)
    arrays, description = good_model
    text = json.dumps(description)
    counts = _fuzz(tmp_path, 200, lambda path, case: _mutated_structure(
        path, arrays, text, case % 4, rng))
    HOSTILE["fuzzed model structures"] = counts
    assert counts["ValueError"] > 120


def _fuzz(tmp_path, n_cases, write):
    """Load ``n_cases`` files made by ``write(path, case)``: each loads (finite) or is a
    ValueError that names the file."""
    counts = {"loaded": 0, "ValueError": 0}
    deadline = time.monotonic() + 60
    for case in range(n_cases):
        path = tmp_path / f"case{case}.npz"
        write(path, case)
        try:
            loaded = anynet.load(path)
            assert all(np.all(np.isfinite(v)) for v in loaded.values())
            counts["loaded"] += 1
        except ValueError as exc:
            assert str(exc).startswith(str(path)), exc
            counts["ValueError"] += 1
        path.unlink()
        assert time.monotonic() < deadline, "the fuzzer ran past its time"
    return counts


def _mutated_bytes(good, kind, rng):
    data = bytearray(good)
    if kind == 0:  # flip a few bytes
        for pos in rng.integers(0, len(data), rng.integers(1, 8)):
            data[pos] ^= int(rng.integers(1, 256))
    elif kind == 1:  # truncate
        data = data[: int(rng.integers(0, len(data)))]
    elif kind == 2:  # overwrite a run with random bytes
        pos = int(rng.integers(0, len(data)))
        data[pos:pos + 32] = rng.bytes(32)
    else:  # insert junk
        pos = int(rng.integers(0, len(data)))
        data[pos:pos] = rng.bytes(int(rng.integers(1, 64)))
    return bytes(data)


FORGED_SHAPES = [(-1,), (-3_000_000_000,), (2 ** 62, 3), (2 ** 63 - 1,), (10 ** 30,), (0,),
                 (3, 0, 4), (1 << 40, 1 << 40)]
JSON_VALUES = ["Infinity", "-Infinity", "NaN", "1e30", "1e400", "-1", "0", "9" * 5000,
               '"x"', "null", "true", "[]", "{}", "[" * 5000 + "]" * 5000, "1.5"]
METHODS = [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA]


def _mutated_structure(path, arrays, text, kind, rng):
    """The new cases of issue 11: forged headers, compression, hostile JSON numbers."""
    import re
    members = _members(arrays, text=text)
    method = zipfile.ZIP_STORED
    if kind == 0:  # one member's header claims another shape
        name = sorted(members)[int(rng.integers(len(members)))]
        shape = FORGED_SHAPES[int(rng.integers(len(FORGED_SHAPES)))]
        array = arrays.get(name[:-4], np.frombuffer(text.encode(), np.uint8))
        members[name] = _npy(array, shape=shape)
    elif kind == 1:  # every member compressed, maybe a bomb among them
        method = METHODS[int(rng.integers(len(METHODS)))]
        if rng.integers(2):
            members["W1.npy"] = _npy(np.zeros((3, 4), np.float32), shape=(3, 4)) + bytes(
                int(rng.integers(2, 4)) << 20)
    else:  # a number of the description (kind 2) or any value (kind 3) replaced
        pattern = r"-?\d+(\.\d+)?(e-?\d+)?" if kind == 2 else \
            r"-?\d+(\.\d+)?(e-?\d+)?|\"[^\"]*\"|null|true|false"
        spots = list(re.finditer(pattern, text))
        spot = spots[int(rng.integers(len(spots)))]
        value = JSON_VALUES[int(rng.integers(len(JSON_VALUES)))]
        members["__anynet__.npy"] = _json_npy(text[:spot.start()] + value + text[spot.end():])
    _zip(path, members, method)


def test_a_header_claiming_a_huge_array_allocates_nothing(tmp_path):
    """A description of 10,000 x 10,000 weights whose file holds a few bytes of them."""
    import json
    description = {"format": "anynet", "format_version": 1, "anynet_version": "0",
                   "metadata": {},
                   "config": {"layer_sizes": [10000, 10000], "activation": "relu",
                              "output_activation": "identity", "loss": "mse", "init": "he",
                              "seed": 0, "dtype": "float64", "classes": None}}
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 1)))
    header["shape"] = (10000, 10000)
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, header)
    member.write(b"\0" * 64)
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as z:
        z.writestr("W1.npy", member.getvalue())
        meta = io.BytesIO()
        np.save(meta, np.frombuffer(json.dumps(description).encode(), np.uint8))
        z.writestr("__anynet__.npy", meta.getvalue())
    start = time.perf_counter()
    with pytest.raises(ValueError, match="huge.npz: cannot load: array 'W1' is damaged "
                                         r"\(its header claims 800000000 bytes"):
        anynet.load(tmp_path / "huge.npz")
    assert time.perf_counter() - start < 1.0


# --- hostile model files: each attack of issue 11, built by hand -----------------

def _npy(data, shape=None):
    """The bytes of a .npy member holding ``data``, its header's shape optionally forged."""
    array = np.asarray(data)
    header = np.lib.format.header_data_from_array_1_0(array)
    if shape is not None:
        header["shape"] = shape
    out = io.BytesIO()
    np.lib.format.write_array_header_1_0(out, header)
    out.write(array.tobytes())
    return out.getvalue()


def _json_npy(text):
    return _npy(np.frombuffer(text.encode(), np.uint8))


def _zip(path, members, method=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data, compress_type=method if name != "plain" else None)
    return path


@pytest.fixture(scope="module")
def good_model(tmp_path_factory):
    """(arrays, description) of a small saved model with its optimizer state."""
    import json
    rng = np.random.default_rng(3)
    net = anynet.train(rng.standard_normal((20, 3)), rng.integers(0, 3, 20), hidden=(4,),
                       epochs=2, backend="numpy", verbose=False)
    path = anynet.save(net, tmp_path_factory.mktemp("good") / "good.npz", optimizer=True)
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    return arrays, json.loads(arrays.pop("__anynet__").tobytes())


def _members(arrays, description=None, text=None):
    import json
    members = {f"{k}.npy": _npy(v) for k, v in arrays.items()}
    members["__anynet__.npy"] = _json_npy(text if text is not None else json.dumps(description))
    return members


def _with(description, *path_and_value):
    """A deep copy of ``description`` with the value at a key path replaced."""
    import copy
    description = copy.deepcopy(description)
    *keys, last = path_and_value[0]
    node = description
    for key in keys:
        node = node[key]
    node[last] = path_and_value[1]
    return description


def _nested(depth):
    value = []
    for _ in range(depth - 1):
        value = [value]
    return value


def _hostile_cases(arrays, description):
    """name -> (members, zip method, the message's fragment)."""
    import json
    d = description
    twenty_million = json.dumps(d).replace(json.dumps(d["config"]["layer_sizes"]),
                                           "[" + "1, " * 20_000_000 + "1]")
    deep = json.dumps(_with(d, ("metadata",), {})).replace('"metadata": {}',
                                                           '"metadata": ' + "[" * 100_000)
    zeros = np.zeros(16 << 20, np.uint8)
    # 16 MB of weights a description asks for, all zeros: a few KB compressed
    sizes = [2000, 2000, 3]
    big = _members({"W1": np.zeros((2000, 2000), np.float32),
                    "b1": np.zeros((1, 2000), np.float32),
                    "W2": np.zeros((2000, 3), np.float32), "b2": np.zeros((1, 3), np.float32)},
                   {k: v for k, v in _with(d, ("config", "layer_sizes"), sizes).items()
                    if k != "optimizer"})
    return {
        "description header: negative shape": (
            {**_members(arrays, d), "__anynet__.npy": _npy(np.zeros(8, np.uint8),
                                                           shape=(-3_000_000_000,))},
            zipfile.ZIP_STORED, "claims the shape"),
        "description header: negative shape, 16 MB deflated": (
            {**_members(arrays, d), "__anynet__.npy": _npy(zeros, shape=(-1,))},
            zipfile.ZIP_DEFLATED, "compression bomb"),
        "description header: shape overflowing int64": (
            {**_members(arrays, d), "__anynet__.npy": _npy(np.zeros(8, np.uint8),
                                                           shape=(2 ** 62, 3))},
            zipfile.ZIP_STORED, "more than the file holds"),
        "description header: shape overflowing int64, 16 MB deflated": (
            {**_members(arrays, d), "__anynet__.npy": _npy(zeros, shape=(2 ** 62, 3))},
            zipfile.ZIP_DEFLATED, "compression bomb"),
        "weights header: a shape of 10^30": (
            {**_members(arrays, d), "W1.npy": _npy(arrays["W1"], shape=(10 ** 30, 4))},
            zipfile.ZIP_STORED, "has shape"),
        "bzip2 bomb": (big, zipfile.ZIP_BZIP2, "NumPy never writes"),
        "lzma bomb": (big, zipfile.ZIP_LZMA, "NumPy never writes"),
        "deflate bomb": (big, zipfile.ZIP_DEFLATED, "compression bomb"),
        "20 million layers, deflated": (_members(arrays, text=twenty_million),
                                        zipfile.ZIP_DEFLATED, "compression bomb"),
        "20,001 layers": (_members(arrays, _with(d, ("config", "layer_sizes"),
                                                 [1] * 20_002)),
                          zipfile.ZIP_STORED, "lists 20001 layers"),
        "JSON nested 100,000 deep": (_members(arrays, text=deep), zipfile.ZIP_STORED,
                                     "nested too deeply"),
        "JSON nested 100 deep": (_members(arrays, _with(d, ("metadata",), {"a": _nested(100)})),
                                 zipfile.ZIP_STORED, "nested more than 64"),
        "t: Infinity": (_members(arrays, _with(d, ("optimizer", "t"), float("inf"))),
                        zipfile.ZIP_STORED, "is not a step count"),
        "t: NaN": (_members(arrays, _with(d, ("optimizer", "t"), float("nan"))),
                   zipfile.ZIP_STORED, "is not a step count"),
        "t: 1e30": (_members(arrays, _with(d, ("optimizer", "t"), 1e30)),
                    zipfile.ZIP_STORED, "is not a step count"),
        "t: 10^30": (_members(arrays, _with(d, ("optimizer", "t"), 10 ** 30)),
                     zipfile.ZIP_STORED, "is not a step count"),
        "a setting of Infinity": (
            _members(arrays, _with(d, ("optimizer", "settings", "beta1"), float("inf"))),
            zipfile.ZIP_STORED, "not finite numbers"),
        "a layer of 10^30 units": (
            _members(arrays, _with(d, ("config", "layer_sizes"), [3, 10 ** 30, 3])),
            zipfile.ZIP_STORED, "a layer of"),
        "an integer of 5,000 digits": (
            _members(arrays, text=json.dumps(d).replace('"seed": 0', '"seed": ' + "9" * 5000)),
            zipfile.ZIP_STORED, "not valid JSON"),
        "seed: Infinity": (_members(arrays, _with(d, ("config", "seed"), float("inf"))),
                           zipfile.ZIP_STORED, "seed"),
        "metadata a list": (_members(arrays, _with(d, ("metadata",), [1, 2])),
                            zipfile.ZIP_STORED, "metadata is list"),
        "classes nested": (_members(arrays, _with(d, ("config", "classes"), [[0], [1], [2]])),
                           zipfile.ZIP_STORED, "classes"),
        "training: epoch Infinity": (
            _members(arrays, _with(d, ("training",), {"epoch": float("inf")})),
            zipfile.ZIP_STORED, "training state is not valid"),
        "a stored member that lies about its size": (
            _members(arrays, d), "lie", "states"),
    }


def _write_case(path, members, method):
    if method != "lie":
        return _zip(path, members, method)
    _zip(path, members)
    data = bytearray(path.read_bytes())  # W1's central-directory entry: file_size x 1000
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("W1.npy")
    entry = data.rfind(b"PK\x01\x02", 0, data.rfind(b"W1.npy"))
    data[entry + 24:entry + 28] = (info.file_size * 1000).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    return path


def test_hostile_model_files_are_refused_in_proportion(tmp_path, good_model):
    """Each attack is a ValueError naming the file, before memory grows beyond the file's."""
    import tracemalloc
    counts = {}
    for name, (members, method, fragment) in _hostile_cases(*good_model).items():
        path = _write_case(tmp_path / "hostile.npz", members, method)
        size = path.stat().st_size
        tracemalloc.start()
        start = time.perf_counter()
        try:
            anynet.load(path)
        except ValueError as exc:
            message = str(exc)
        else:
            pytest.fail(f"{name}: loaded")
        finally:
            seconds = time.perf_counter() - start
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
        assert message.startswith(str(path)) and fragment in message, (name, message)
        assert seconds < 3, (name, seconds)
        assert peak < 20 * size + (8 << 20), (name, peak, size)
        counts["ValueError"] = counts.get("ValueError", 0) + 1
    HOSTILE["hostile model files"] = counts


def test_a_recompressed_model_still_loads(tmp_path, good_model):
    arrays, description = good_model
    path = _zip(tmp_path / "deflated.npz", _members(arrays, description), zipfile.ZIP_DEFLATED)
    net = anynet.load(path)
    np.testing.assert_array_equal(net["W1"], arrays["W1"])


def test_fuzzed_data_files(tmp_path):
    """The CLI's .npz/.npy input gets the model files' guards: loaded, or a ValueError
    naming the file (never a BadZipFile, an EOFError or a huge allocation)."""
    from anynet import datasets
    rng = np.random.default_rng(2)
    arrays = {"X": rng.standard_normal((12, 3)), "y": rng.integers(0, 2, 12)}
    np.savez(tmp_path / "good.npz", **arrays)
    good = (tmp_path / "good.npz").read_bytes()
    counts = {"loaded": 0, "ValueError": 0}
    for case in range(240):
        path = tmp_path / f"case{case}.npz"
        if case < 160:
            path.write_bytes(_mutated_bytes(good, case % 4, rng))
        else:
            members = {f"{k}.npy": _npy(v) for k, v in arrays.items()}
            if case % 2:
                name = ["X.npy", "y.npy"][int(rng.integers(2))]
                shape = FORGED_SHAPES[int(rng.integers(len(FORGED_SHAPES)))]
                members[name] = _npy(arrays[name[:-4]], shape=shape)
            _zip(path, members, METHODS[int(rng.integers(len(METHODS)))])
        try:
            X, y, _ = datasets.load_npz(path)
            assert np.all(np.isfinite(X)) and len(X) == len(y)
            counts["loaded"] += 1
        except ValueError as exc:
            assert str(exc).startswith(str(path)), exc
            counts["ValueError"] += 1
        path.unlink()
    HOSTILE["fuzzed data files"] = counts
    assert counts["ValueError"] > 120


def test_hostile_safetensors_descriptions(tmp_path, good_model):
    """The .safetensors reader checks the same description (it sits in the metadata)."""
    import json
    safetensors = pytest.importorskip("safetensors.numpy")
    arrays, d = good_model
    cases = {"deep": (json.dumps(d).replace('"metadata": {}', '"metadata": ' + "[" * 50_000),
                      "nested too deeply"),
             "t": (json.dumps(_with(d, ("optimizer", "t"), float("inf"))), "not a step count"),
             "layers": (json.dumps(_with(d, ("config", "layer_sizes"), [1] * 20_002)),
                        "lists 20001 layers"),
             "not text": (None, "no anynet description")}
    counts = {}
    for name, (text, fragment) in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.safetensors"
        safetensors.save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()},
                              str(path), metadata=None if text is None else {"__anynet__": text})
        with pytest.raises(ValueError, match=fragment) as caught:
            anynet.load(path)
        assert str(caught.value).startswith(str(path)), caught.value
        counts["ValueError"] = counts.get("ValueError", 0) + 1
    HOSTILE["hostile safetensors"] = counts


# --- numbers that change on the way in (issue 19): checked after the cast -----------

def _rewritten(tmp_path, name, arrays, description, changes, config=()):
    import copy
    d = copy.deepcopy(description)
    d["config"].update(dict(config))
    members = {**arrays, **changes}
    return _zip(tmp_path / name, _members(members, d))


@pytest.fixture(scope="module")
def scaled_model(tmp_path_factory):
    """(arrays, description) of a float64 model that standardises its inputs, saved
    with its optimizer's state."""
    import json
    rng = np.random.default_rng(4)
    net = anynet.train(rng.standard_normal((20, 3)), rng.integers(0, 2, 20), hidden=(4,),
                       epochs=2, backend="numpy", verbose=False, dtype="float64",
                       standardize=True)
    path = anynet.save(net, tmp_path_factory.mktemp("scaled") / "m.npz", optimizer=True)
    with np.load(path) as archive:
        arrays = {k: archive[k] for k in archive.files}
    return arrays, json.loads(arrays.pop("__anynet__").tobytes())


@pytest.mark.parametrize("case, changes, config, dtype, message", [
    ("a float32 model holding float64 1e300", {"W1": 1e300}, {"dtype": "float32"}, None,
     "'W1' holds 1e+300, beyond the range of float32"),
    ("a float64 model loaded as float32", {"W2": -3.5e38}, {}, "float32",
     "'W2' holds 3.5e+38, beyond the range of float32"),
    ("a bias past float32", {"b1": 1e39}, {"dtype": "float32"}, None, "'b1' holds 1e+39"),
    ("input.scale 1e-46, 0 in float32", {"input.scale": 1e-46}, {"dtype": "float32"}, None,
     "'input.scale' holds scales that are not >="),
    ("input.scale subnormal in float32", {"input.scale": 1e-40}, {}, "float32",
     "'input.scale' holds scales that are not >="),
    ("input.mean 1e39 in float32", {"input.mean": 1e39}, {"dtype": "float32"}, None,
     "'input.mean' holds 1e+39"),
    ("Adam's state past float32", {"optimizer.v.W1": 1e300}, {}, "float32",
     "'optimizer.v.W1' holds 1e+300"),
])
def test_values_are_checked_after_the_cast(tmp_path, scaled_model, case, changes, config, dtype,
                                           message):
    arrays, description = scaled_model
    changed = {}
    for key, value in changes.items():
        changed[key] = arrays[key].copy()
        changed[key].flat[0] = value
    path = _rewritten(tmp_path, "cast.npz", arrays, description, changed, config)
    with pytest.raises(ValueError, match="cast.npz: array " + message.replace("+", r"\+")
                       .replace("(", r"\(")):
        anynet.load(path, dtype=dtype)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.floats(allow_nan=False, allow_infinity=False), key=st.sampled_from(
    ["W1", "b2", "input.mean", "input.scale"]), dtype=st.sampled_from(["float32", "float64"]))
def test_a_value_loads_as_its_cast_or_is_refused(tmp_path, scaled_model, value, key, dtype):
    """Any finite float64 in any array of a model loaded as float32 or float64: it loads
    as exactly its cast (finite, and a normal scale), or the load names the array."""
    arrays, description = scaled_model
    changed = arrays[key].copy()
    changed.flat[0] = value
    path = _rewritten(tmp_path, "value.npz", arrays, description, {key: changed})
    with np.errstate(over="ignore", under="ignore"):
        cast = np.asarray(value).astype(dtype)
    fits = bool(np.isfinite(cast)) and (key != "input.scale" or cast >= np.finfo(dtype).tiny)
    try:
        net = anynet.load(path, dtype=dtype)
    except ValueError as exc:
        assert not fits, (value, str(exc))
        assert f"array {key!r}" in str(exc)
        return
    assert fits, value
    loaded = {"input.mean": lambda: net.input_scaling[0], "input.scale":
              lambda: net.input_scaling[1]}.get(key, lambda: net[key])()
    assert loaded.dtype == np.dtype(dtype) and host(loaded).flat[0] == cast


def test_a_standardised_column_with_a_subnormal_deviation_is_kept_as_is():
    """standardize=True in float32: a deviation that is subnormal there is no scale."""
    rng = np.random.default_rng(5)
    X = np.column_stack([rng.standard_normal(30), rng.standard_normal(30) * 1e-39])
    net = anynet.train(X.astype(np.float32), rng.integers(0, 2, 30), hidden=(3,), epochs=1,
                       standardize=True, backend="numpy", verbose=False)
    scale = host(net.input_scaling[1])
    assert scale[0, 1] == 1.0 and np.all(scale >= np.finfo(np.float32).tiny)
    # a value of that column far from its tiny spread still gives finite outputs
    assert np.all(np.isfinite(host(net.predict(np.ones((2, 2), np.float32)))))


# --- memory in proportion to the whole file (issue 19) ------------------------------

def _measured_load(load, path):
    """(message, peak bytes) of a load that must fail."""
    import tracemalloc
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as caught:
            load(path)
        return str(caught.value), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_many_deflated_layers_are_refused_in_proportion_to_the_file(tmp_path, good_model):
    """40 layers of 512 x 512 zeros, each within its own allowance (16x + 1 MiB), 42 MB
    in all from a file of ~50 KB: refused by the total before any is read."""
    arrays, description = good_model
    n = 40
    zeros = _npy(np.zeros((512, 512), np.float32))
    members = {}
    for layer in range(1, n + 1):
        members[f"W{layer}.npy"] = zeros
        members[f"b{layer}.npy"] = _npy(np.zeros((1, 512), np.float32))
    d = {k: v for k, v in _with(description, ("config", "layer_sizes"), [512] * (n + 1))
         .items() if k != "optimizer"}
    d["config"]["dtype"], d["config"]["classes"] = "float32", None
    d["config"]["output_activation"], d["config"]["loss"] = "identity", "mse"
    members["__anynet__.npy"] = _json_npy(__import__("json").dumps(d))
    path = _zip(tmp_path / "layers.npz", members, zipfile.ZIP_DEFLATED)
    size = path.stat().st_size
    message, peak = _measured_load(anynet.load, path)
    assert "refused as a compression bomb" in message and "in all" in message, message
    assert peak < 20 * size + (8 << 20), (peak, size)


def _forged_sizes(path, claim):
    """Rewrite every central-directory entry of the zip at ``path`` to state ``claim``
    bytes (each member then claims what its own allowance lets it claim)."""
    data = bytearray(path.read_bytes())
    start = 0
    while (entry := data.find(b"PK\x01\x02", start)) >= 0:
        data[entry + 24:entry + 28] = claim.to_bytes(4, "little")
        start = entry + 4
    path.write_bytes(bytes(data))
    return path


def test_members_within_their_own_allowance_are_refused_by_their_total(tmp_path):
    """A data file of 200 members that each claim 60 MiB (within 1,032x + 64 MiB each):
    12 GB in all from a few KB, refused before any member is read."""
    from anynet import datasets
    members = {"X.npy": _npy(np.zeros((2, 2))), "y.npy": _npy(np.zeros(2))}
    members.update({f"pad{i}.npy": _npy(np.zeros(4)) for i in range(198)})
    path = _forged_sizes(_zip(tmp_path / "many.npz", members, zipfile.ZIP_DEFLATED), 60 << 20)
    message, peak = _measured_load(datasets.load_npz, path)
    assert "many.npz" in message and "in all" in message and "compression bomb" in message
    assert peak < (8 << 20)


def test_compressed_data_of_mostly_zeros_loads(tmp_path, monkeypatch):
    """numpy.savez_compressed of a sparse X (1,000 to 1 and more) loads, as it is: its
    ratio is within the data files' allowance (tested with 1 MiB of slack in place of
    64 MiB, so that 8 MB of zeros need the ratio, not the slack)."""
    from anynet import _tables, datasets
    factor, _ = _tables._DATA_INFLATION
    monkeypatch.setattr(_tables, "_DATA_INFLATION", (factor, 1 << 20))
    X = np.zeros((2_000, 500))
    X[::97, 3] = 1.0
    y = np.arange(2_000) % 2
    np.savez_compressed(tmp_path / "sparse.npz", X=X, y=y)
    assert (tmp_path / "sparse.npz").stat().st_size * 900 < X.nbytes  # deflated ~1,000x
    loaded, labels, _ = datasets.load_npz(tmp_path / "sparse.npz")
    np.testing.assert_array_equal(loaded, X)
    np.testing.assert_array_equal(labels, y)


@pytest.mark.skipif(not hasattr(__import__("os"), "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("via_symlink", [False, True])
def test_a_fifo_in_place_of_the_file_is_refused_not_waited_on(tmp_path, via_symlink):
    """Opened once without blocking, then checked: no writer ever comes, and the load
    returns at once (a thread, released by opening the FIFO's other end if it hangs)."""
    import os
    import threading
    from anynet import datasets
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    path = fifo
    if via_symlink:
        path = tmp_path / "link.npz"
        path.symlink_to(fifo)
    for load in (anynet.load, datasets.load_npz):
        outcome = []

        def attempt():
            try:
                load(path)
            except ValueError as exc:
                outcome.append(str(exc))

        worker = threading.Thread(target=attempt, daemon=True)
        worker.start()
        worker.join(10)
        if worker.is_alive():  # release it, then fail
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            worker.join(10)
            pytest.fail(f"{load.__name__} waited on a FIFO")
        assert outcome and "not a regular file" in outcome[0] and str(path) in outcome[0]


# --- two runs, one checkpoint path: the second is refused, told who writes it ----------------

HOLDER = """
import sys
from anynet.checkpoints import CheckpointLock
CheckpointLock(sys.argv[1]).acquire()
print("held", flush=True)
sys.stdin.read()  # held until killed
"""


def _small_run(**options):
    rng = np.random.default_rng(3)
    return anynet.train(rng.standard_normal((30, 3)), rng.integers(0, 2, 30), hidden=(4,),
                        epochs=2, backend="numpy", verbose=False, **options)


def test_a_checkpoint_written_by_another_process_is_refused_naming_it(tmp_path):
    import os
    import signal
    import socket
    import subprocess
    import sys
    from pathlib import Path
    path = tmp_path / "ck.npz"
    env = {**os.environ, "PYTHONPATH": str(Path(anynet.__file__).parents[1])}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        link = tmp_path / "link.npz"
        link.symlink_to(path)  # the same file by another name: the same lock
        for name in (path, link, str(path)):
            with pytest.raises(ValueError, match=(
                    f"checkpoint=.* is being written by another run \\(held by pid "
                    f"{holder.pid} on host {socket.gethostname()} since .*\\); wait")):
                _small_run(checkpoint=name, resume=True)
        assert not path.exists()  # nothing written, nothing read
    finally:
        os.kill(holder.pid, signal.SIGKILL)  # the system drops a killed holder's lock
        holder.wait(timeout=30)
        holder.stdin.close()
        holder.stdout.close()
    net = _small_run(checkpoint=path)  # the lock file left behind locks nothing
    assert len(net.history["loss"]) == 2 and path.exists()
    assert not list(tmp_path.glob(".*.lock"))  # let go, and removed


def test_a_run_cannot_write_the_checkpoint_another_run_in_the_process_writes(tmp_path):
    path = tmp_path / "ck.npz"
    refused = []

    def second_run(epoch, history, network):  # a run inside the first run's callback
        try:
            _small_run(checkpoint=path)
        except ValueError as exc:
            refused.append(str(exc))

    net = _small_run(checkpoint=path, callbacks=[second_run])
    assert len(refused) == 2 and all("is being written by another run" in r for r in refused)
    assert len(net.history["loss"]) == 2  # the first run went on

    def boom(epoch, history, network):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):  # an error lets the lock go too
        _small_run(checkpoint=path, callbacks=[boom])
    _small_run(checkpoint=path, resume=True)
    assert not list(tmp_path.glob(".*.lock"))


def test_the_command_line_refuses_a_model_whose_numbers_change_on_the_way_in(tmp_path,
                                                                              capsys):
    """``anynet predict`` with a float32 model holding float64 1e300: one line naming the
    file and the array, exit 2 (it printed class 0 with NaN probabilities before)."""
    import csv
    import json
    from anynet.__main__ import main
    data = tmp_path / "data.csv"
    rng = np.random.default_rng(6)
    with open(data, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["a", "b", "kind"])
        for a, b in rng.standard_normal((24, 2)):
            w.writerow([f"{a:.3f}", f"{b:.3f}", "yes" if a > 0 else "no"])
    model = tmp_path / "model.npz"
    assert main(["train", str(data), "--target", "kind", "-o", str(model), "--epochs", "2"]) == 0
    with np.load(model, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    assert json.loads(arrays["__anynet__"].tobytes())["config"]["dtype"] == "float32"
    arrays["W1"] = arrays["W1"].astype(np.float64)
    arrays["W1"][0, 0] = 1e300
    np.savez(model, **arrays)
    capsys.readouterr()
    assert main(["predict", str(model), str(data)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert str(model) in err and "'W1' holds 1e+300, beyond the range of float32" in err
