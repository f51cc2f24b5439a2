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
    counts = {"loaded": 0, "ValueError": 0}
    deadline = time.monotonic() + 60
    for case in range(400):
        data = bytearray(good)
        kind = case % 4
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
        path = tmp_path / f"case{case}.npz"
        path.write_bytes(bytes(data))
        try:
            loaded = anynet.load(path)
            assert all(np.all(np.isfinite(v)) for v in loaded.values())
            counts["loaded"] += 1
        except ValueError as exc:
            assert str(exc).startswith(str(path)), exc
            counts["ValueError"] += 1
        path.unlink()
        assert time.monotonic() < deadline, "the fuzzer ran past its time"
    HOSTILE["fuzzed model files"] = counts
    assert counts["ValueError"] > 200


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
