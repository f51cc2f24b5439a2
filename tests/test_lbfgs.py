"""L-BFGS (anynet.quasi_newton, anynet.line_search) against SciPy's L-BFGS-B.

The oracle is SciPy itself: MINPACK's line search trial for trial
(``scipy.optimize._dcsrch``), and ``minimize(method="L-BFGS-B")`` iterate for
iterate, with its iteration and evaluation counts and its status, on smooth
problems, on a crafted objective whose line searches fail, and through the
scikit-learn estimator. The test functions are written with ``xp`` calls only,
so they run on every backend of the matrix (array_api_strict's ``device1`` and
``cupy_like`` refuse an implicit transfer to the host); the reads L-BFGS makes
are counted.
"""
import math
import warnings

import numpy as np
import pytest

import anynet
from anynet import _backend
from anynet._backend import compile_function
from anynet.line_search import CONVERGENCE, FG, MoreThuente
from anynet.quasi_newton import LBFGS, MESSAGES
from conftest import assert_on_backend, host, resolve

optimize = pytest.importorskip("scipy.optimize")


def on(backend, array, dtype="float64"):
    """A NumPy array as ``backend``'s array of ``dtype``, on its device."""
    return backend.xp.asarray(np.asarray(array, dtype=dtype), device=backend.device)


def run(xp, fun, x0, max_iter=1000, **options):
    """L-BFGS from x0 until it stops or max_iter: (the optimizer, the path of x on the host)."""
    lbfgs = LBFGS(**options)
    lbfgs.start(xp, x0, fun)
    path = [host(x0)]
    while lbfgs.status is None and lbfgs.n_iter < max_iter:
        lbfgs.iterate(xp, fun)
        if len(path) <= lbfgs.n_iter:
            path.append(host(lbfgs.x))
    return lbfgs, path


def scipy_run(fun, x0, **options):
    """SciPy's L-BFGS-B on the same function: (its result, the path of x)."""
    path = [np.array(x0, dtype=float)]

    def numpy_fun(x):
        f, g = fun(x)
        return float(f), np.asarray(g, dtype=float)

    def callback(intermediate_result):
        path.append(intermediate_result.x.copy())
    result = optimize.minimize(numpy_fun, x0, jac=True, method="L-BFGS-B",
                               callback=callback, options=options)
    return result, path


def rosenbrock(xp):
    """sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2 and its gradient; minimum at (1, ..., 1)."""
    def fun(x):
        a, b = x[:-1], x[1:]
        r = b - a * a
        f = xp.sum(100.0 * r * r + (1.0 - a) * (1.0 - a))
        zero = xp.zeros((1,), dtype=x.dtype, device=x.device)
        g = xp.concat([-400.0 * a * r - 2.0 * (1.0 - a), zero]) + xp.concat([zero, 200.0 * r])
        return f, g
    return fun


def logistic_on(backend, dtype="float64", seed=0):
    """A seeded logistic regression on ``backend``: (fun, w0); compiled on JAX."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((200, 20))
    y = np.where(X @ rng.standard_normal(20) + 0.5 * rng.standard_normal(200) > 0, 1.0, -1.0)
    xp, Xd, yd = backend.xp, on(backend, X, dtype), on(backend, y, dtype)

    def fun(w):
        z = yd * (Xd @ w)
        f = xp.sum(xp.logaddexp(xp.zeros_like(z), -z)) / 200 + 0.5e-3 * xp.sum(w * w)
        return f, -(Xd.T @ (yd / (1.0 + xp.exp(z)))) / 200 + 1e-3 * w
    return compile_function(backend, fun), on(backend, np.zeros(20), dtype)


def barrier(xp):
    """sum_i x_i - log x_i (minimum at 1), +inf outside x > 0: long steps land
    there, so searches take several trials, some of them non-finite."""
    def fun(x):
        inside = x > 0
        safe = xp.where(inside, x, xp.ones_like(x))
        f = xp.sum(xp.where(inside, x - xp.log(safe), xp.full_like(x, math.inf)))
        return f, xp.where(inside, 1.0 - 1.0 / safe, xp.full_like(x, math.nan))
    return fun


@pytest.fixture
def numpy_backend():
    return resolve("numpy")


# ---- the line search: MINPACK's, trial for trial ---------------------------------------

def test_line_search_is_minpacks_trial_for_trial():
    """Random smooth 1-D functions and first steps: the same trials as SciPy's DCSRCH
    and the same ending (convergence or which warning)."""
    dcsrch = pytest.importorskip("scipy.optimize._dcsrch")
    rng = np.random.default_rng(0)
    compared = 0
    while compared < 300:
        a, c, stp0 = rng.normal(size=4) * 3, rng.uniform(0.1, 5), rng.uniform(0.01, 10)

        def phi(t):
            return float(np.sin(a[0] * t) + c * (t - a[1]) ** 2 + a[2] * t + 0.1 * t ** 4)

        def slope(t):
            return float(a[0] * np.cos(a[0] * t) + 2 * c * (t - a[1]) + a[2] + 0.4 * t ** 3)
        if slope(0.0) >= 0:
            continue
        theirs = []
        reference = dcsrch.DCSRCH(lambda t: (theirs.append(t), phi(t))[1], slope,
                                  1e-3, 0.9, 0.1, 0.0, 1e10)
        _, _, _, task = reference(stp0, phi(0.0), slope(0.0), maxiter=30)
        search, ours = MoreThuente(phi(0.0), slope(0.0), stp0), []
        for _ in range(30):
            ours.append(search.stp)
            if search.tell(phi(search.stp), slope(search.stp)) != FG:
                break
        assert ours == theirs
        assert task.decode().replace("WARNING: ", "") == search.task
        compared += 1


def test_line_search_refuses_what_minpack_calls_an_error():
    with pytest.raises(ValueError, match="g0 must be negative"):
        MoreThuente(1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="stp must be in"):
        MoreThuente(1.0, -1.0, 2e10)


def test_line_search_backs_away_from_non_finite_trials():
    """f = inf beyond t = 1: each such trial halves the way back, never interpolates NaN."""
    def phi(t):
        return (t - 0.8) ** 2 if t < 1.0 else math.inf
    search = MoreThuente(phi(0.0), -1.6, 10.0)
    trials = []
    while search.tell(phi(search.stp), 2 * (search.stp - 0.8) if search.stp < 1 else
                      math.nan) == FG:
        trials.append(search.stp)
        assert math.isfinite(search.stp) and len(trials) < 30
    assert search.task == CONVERGENCE and abs(search.stp - 0.8) < 0.3


# ---- L-BFGS: SciPy's iterates -----------------------------------------------------------

@pytest.mark.parametrize("problem", ["logistic", "rosenbrock"])
def test_iterates_counts_and_status_are_scipys(numpy_backend, problem):
    xp = numpy_backend.xp
    if problem == "logistic":
        fun, x0 = logistic_on(numpy_backend)
        options = dict(gtol=1e-8)
    else:
        fun, x0 = rosenbrock(xp), on(numpy_backend, [-1.2, 1.0] * 5)
        options = dict(gtol=1e-6, ftol=1e-12)
    lbfgs, path = run(xp, fun, x0, **options)
    result, expected = scipy_run(fun, host(x0), **options)
    assert (lbfgs.n_iter, lbfgs.n_evals, lbfgs.message) == \
        (result.nit, result.nfev, result.message)
    # rounding grows along a nonlinear path: the first 20 iterates to 1e-12, all to 1e-6
    for k, (x, x_expected) in enumerate(zip(path, expected)):
        np.testing.assert_allclose(x, x_expected, rtol=0, atol=1e-12 if k < 20 else 1e-6,
                                   err_msg=f"iterate {k}")
    assert lbfgs.f == pytest.approx(result.fun, rel=1e-9, abs=1e-14)


@pytest.mark.parametrize("options", [dict(max_fun=7), dict(history_size=3),
                                     dict(ftol=1e-4), dict(gtol=1e-2)])
def test_each_option_is_scipys(numpy_backend, options):
    """max_fun (maxfun), history_size (maxcor), ftol and gtol, one at a time."""
    xp = numpy_backend.xp
    fun, x0 = rosenbrock(xp), on(numpy_backend, [-1.2, 1.0] * 3)
    lbfgs, path = run(xp, fun, x0, **options)
    scipy_options = {{"max_fun": "maxfun", "history_size": "maxcor"}.get(k, k): v
                     for k, v in options.items()}
    result, expected = scipy_run(fun, host(x0), **scipy_options)
    assert (lbfgs.n_iter, lbfgs.n_evals, lbfgs.message) == \
        (result.nit, result.nfev, result.message)
    np.testing.assert_allclose(path[-1], expected[-1], rtol=0, atol=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_random_smooth_problems_end_as_scipys(numpy_backend, seed):
    """A sweep: quadratics (condition up to 300) plus a quartic, in 3 to 30 dimensions, from
    random starts, with random gtol and history_size: SciPy's iteration and evaluation
    counts, status and end point."""
    rng = np.random.default_rng(seed)
    xp, n = numpy_backend.xp, int(rng.integers(3, 31))
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = on(numpy_backend, Q @ np.diag(10.0 ** rng.uniform(-1, 1.5, n)) @ Q.T)
    c = on(numpy_backend, rng.standard_normal(n))
    quartic = float(rng.uniform(0.0, 0.1))

    def fun(x):
        r = x - c
        Ar = A @ r
        return 0.5 * xp.sum(r * Ar) + quartic * xp.sum(r ** 4), Ar + 4.0 * quartic * r ** 3
    options = dict(gtol=float(10.0 ** rng.uniform(-8, -3)),
                   history_size=int(rng.integers(2, 12)))
    x0 = on(numpy_backend, 3.0 * rng.standard_normal(n))
    lbfgs, path = run(xp, fun, x0, **options)
    result, expected = scipy_run(fun, host(x0), gtol=options["gtol"],
                                 maxcor=options["history_size"])
    assert (lbfgs.n_iter, lbfgs.n_evals, lbfgs.message) == \
        (result.nit, result.nfev, result.message)
    np.testing.assert_allclose(path[-1], expected[-1], rtol=0, atol=1e-6)


def test_gtol_is_tested_where_the_run_starts(numpy_backend):
    xp = numpy_backend.xp
    lbfgs, _ = run(xp, rosenbrock(xp), on(numpy_backend, np.ones(6)))
    assert (lbfgs.status, lbfgs.n_iter, lbfgs.n_evals) == ("gtol", 0, 1)


# ---- a failed search: never a step, never a convergence --------------------------------

def test_a_failed_search_restarts_along_minus_g_then_stops_as_scipy(numpy_backend):
    """A gradient off by a constant: the searches fail once the memory steers by it.
    SciPy drops the memory, retries along -g, and stops ABNORMAL when that fails
    too: the same iterations, evaluations and point here, and the point is the
    last accepted one, not a trial."""
    xp = numpy_backend.xp

    def lying(x):
        return xp.sum(x * x), 2.0 * x + 5.0
    x0 = on(numpy_backend, np.ones(3))
    lbfgs, path = run(xp, lying, x0)
    result, expected = scipy_run(lying, host(x0))
    assert (lbfgs.status, lbfgs.message) == ("line_search", result.message) == \
        ("line_search", MESSAGES["line_search"])
    assert (lbfgs.n_iter, lbfgs.n_evals) == (result.nit, result.nfev) == (2, 44)
    np.testing.assert_allclose(host(lbfgs.x), result.x, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(host(lbfgs.x), path[-1])
    assert lbfgs.f == float(np.sum(host(lbfgs.x) ** 2))


def test_an_uphill_gradient_stops_where_it_started(numpy_backend):
    """-g goes uphill: no memory to drop, so the first failed search ends the run."""
    xp = numpy_backend.xp
    x0 = on(numpy_backend, [1.0, -2.0])
    calls = []

    def uphill(x):
        calls.append(1)
        return xp.sum(x * x), -2.0 * x
    lbfgs, _ = run(xp, uphill, x0)
    assert (lbfgs.status, lbfgs.n_iter, lbfgs.n_evals, len(calls)) == ("line_search", 0,
                                                                       21, 21)
    np.testing.assert_array_equal(host(lbfgs.x), host(x0))
    assert lbfgs.f == 5.0 and lbfgs.iterate(xp, uphill) == "line_search"  # stays stopped


def test_a_flat_start_is_converged_with_gtol_zero(numpy_backend):
    xp = numpy_backend.xp

    def constant(x):
        return xp.sum(0.0 * x) + 3.0, xp.zeros_like(x)
    lbfgs, _ = run(xp, constant, on(numpy_backend, [1.0, 2.0]), gtol=0.0)
    assert (lbfgs.status, lbfgs.n_evals) == ("gtol", 1)  # max|g| = 0 <= 0


def test_snapshot_and_restore_replay_an_iteration(numpy_backend):
    xp = numpy_backend.xp
    fun = rosenbrock(xp)
    lbfgs, _ = run(xp, fun, on(numpy_backend, [-1.2, 1.0] * 3), max_iter=4)
    snapshot = lbfgs.snapshot()
    before = host(lbfgs.x).copy()
    lbfgs.iterate(xp, fun)
    after = (host(lbfgs.x), lbfgs.f, lbfgs.n_evals)
    np.testing.assert_array_equal(host(snapshot["x"]), before)  # nothing written in place
    lbfgs.restore(snapshot)
    lbfgs.iterate(xp, fun)
    np.testing.assert_array_equal(host(lbfgs.x), after[0])
    assert (lbfgs.f, lbfgs.n_evals) == after[1:]


def test_hyperparameters_are_checked_and_kept():
    for bad in (dict(history_size=0), dict(max_fun=0), dict(gtol=-1.0), dict(ftol=math.nan),
                dict(max_line_search=0)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            LBFGS(**bad)
    lbfgs = LBFGS(history_size=4, gtol=1e-3)
    assert lbfgs.fresh().hyperparameters() == lbfgs.hyperparameters()
    assert "history_size=4" in repr(lbfgs) and not isinstance(lbfgs, anynet.optimizers.Optimizer)


# ---- every backend: the same path, on its device, two reads an iteration ---------------

@pytest.fixture(scope="module")
def numpy_logistic_path():
    backend = resolve("numpy")
    fun, w0 = logistic_on(backend)
    lbfgs, path = run(backend.xp, fun, w0, gtol=1e-8)
    return lbfgs.n_evals, path


def test_same_iterates_on_every_backend(xp_backend, numpy_logistic_path):
    """float64: NumPy's path, iterate by iterate, to 1e-10; arrays on the device."""
    n_evals, expected = numpy_logistic_path
    with xp_backend.activate():
        fun, w0 = logistic_on(xp_backend)
        lbfgs, path = run(xp_backend.xp, fun, w0, gtol=1e-8)
        direction = lbfgs._direction(xp_backend.xp)
    assert (lbfgs.n_evals, len(path)) == (n_evals, len(expected))
    for k, (x, x_expected) in enumerate(zip(path, expected)):
        np.testing.assert_allclose(x, x_expected, rtol=0, atol=1e-10, err_msg=f"iterate {k}")
    for array in (lbfgs.x, lbfgs.g, direction, *lbfgs._memory[-1][:2]):
        assert_on_backend(array, xp_backend, "float64")


def test_float32_and_non_finite_trials_on_every_backend(xp_backend):
    with xp_backend.activate():
        fun, w0 = logistic_on(xp_backend, "float32")
        lbfgs, _ = run(xp_backend.xp, fun, w0, max_iter=15)
        assert_on_backend(lbfgs.x, xp_backend, "float32")
        assert lbfgs.f < 0.5 * math.log(2.0)
        values = []
        inner = compile_function(xp_backend, barrier(xp_backend.xp))

        def recorded(x):
            f, g = inner(x)
            values.append(float(host(xp_backend.xp.asarray(f))))
            return f, g
        start = on(xp_backend, np.geomspace(0.05, 10.0, 20))
        lbfgs, _ = run(xp_backend.xp, recorded, start, gtol=1e-8, ftol=1e-14)
    assert lbfgs.status in ("gtol", "ftol") and not all(map(math.isfinite, values))
    np.testing.assert_allclose(host(lbfgs.x), np.ones(20), rtol=0, atol=1e-6)


def _count_reads(monkeypatch):
    """Count every device-to-host read: to_numpy, which host_floats goes through too."""
    reads = []
    real = _backend.to_numpy

    def counted(x):
        if not isinstance(x, np.ndarray):
            reads.append(1)
        return real(x)
    for module in (_backend, anynet.training):
        monkeypatch.setattr(module, "to_numpy", counted)
    return reads


def test_at_most_three_reads_an_iteration_through_train(monkeypatch):
    """The whole run, on array_api_strict's device1 (which refuses implicit reads):
    every read counted, the epoch's own included; about two an iteration."""
    from conftest import blobs
    strict = pytest.importorskip("array_api_strict")
    X, y = blobs(n=80)
    reads = _count_reads(monkeypatch)
    net = anynet.train(X, y, hidden=(6,), optimizer="lbfgs", epochs=40, verbose=False,
                       backend=strict, device=strict.Device("device1"), dtype="float64",
                       alpha=1e-3)
    iterations = net.optimizer.n_iter
    assert iterations >= 10
    assert len(reads) <= 3 * iterations, (len(reads), iterations)


def test_sparse_chunks_are_uploaded_once_when_they_fit(monkeypatch):
    """Every evaluation reuses the dense chunks on the device; over the budget,
    each evaluation makes them again."""
    sparse = pytest.importorskip("scipy.sparse")
    from anynet import objective
    from conftest import blobs
    X, y = blobs(n=50)
    X[X < 0.3] = 0.0
    made = []
    real = sparse.csr_matrix.toarray

    def counted(self, *args, **kwargs):
        made.append(self.shape[0])
        return real(self, *args, **kwargs)
    monkeypatch.setattr(sparse.csr_matrix, "toarray", counted)
    monkeypatch.setattr(objective, "CHUNK_ROWS", 16)  # four chunks
    options = dict(hidden=(5,), optimizer="lbfgs", epochs=10, verbose=False,
                   backend="numpy", dtype="float64")
    net = anynet.train(sparse.csr_matrix(X), y, **options)
    assert sorted(made) == [2, 16, 16, 16]  # once, whatever the evaluations
    made.clear()
    monkeypatch.setattr(objective, "SPARSE_DEVICE_BYTES", 100)
    again = anynet.train(sparse.csr_matrix(X), y, **options)
    assert len(made) == 4 * again.optimizer.n_evals
    assert again.history["loss"] == net.history["loss"]


# ---- the estimator: scikit-learn's numbers, warnings and silence -----------------------

def _fit(cls, X, y, **options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = cls(solver="lbfgs", **options).fit(X, y)
    return model, [str(w.message) for w in caught if w.category.__name__ ==
                   "ConvergenceWarning"]


@pytest.mark.parametrize("case", range(4))
def test_the_estimator_follows_scikit_learns_iterates(case, capsys):
    """A few random small fits stopped after 12 iterations, where rounding has not
    grown: scikit-learn's coefs_ to 1e-6, its loss_, n_iter_ and its warning word
    for word; verbose prints what scikit-learn prints (nothing)."""
    from sklearn import neural_network
    from sklearn.datasets import make_classification, make_regression

    import anynet.sklearn
    rng = np.random.default_rng(case)
    kind = ("MLPClassifier", "MLPRegressor")[case % 2]
    if kind == "MLPClassifier":
        X, y = make_classification(n_samples=60, n_features=5, n_informative=3,
                                   n_classes=2 + case // 2, random_state=case)
    else:
        X, y = make_regression(n_samples=60, n_features=5, noise=1.0, random_state=case)
        y = y / np.std(y)
    options = dict(hidden_layer_sizes=tuple(rng.integers(2, 9, size=1 + case // 2)),
                   alpha=float(10.0 ** rng.uniform(-5, 0)), random_state=case,
                   activation=("relu", "tanh", "logistic", "relu")[case], max_iter=12,
                   verbose=True)
    theirs, their_words = _fit(getattr(neural_network, kind), X, y, **options)
    said = capsys.readouterr().out
    ours, our_words = _fit(getattr(anynet.sklearn, kind), X, y, **options)
    assert capsys.readouterr().out == said
    assert (ours.n_iter_, our_words) == (theirs.n_iter_, their_words)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-8)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)


def test_iris_reaches_scikit_learns_minimum():
    """The issue's case, scaled as scikit-learn advises: its loss (0.030) and 81
    iterations, converged without a warning."""
    from sklearn.datasets import load_iris
    from sklearn.neural_network import MLPClassifier as Theirs
    from sklearn.preprocessing import StandardScaler

    from anynet.sklearn import MLPClassifier
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    options = dict(hidden_layer_sizes=(10,), random_state=0)
    theirs, _ = _fit(Theirs, X, y, **options)
    ours, words = _fit(MLPClassifier, X, y, **options)
    assert words == [] and ours.n_iter_ < 200
    assert ours.loss_ <= 1.01 * theirs.loss_


def test_a_failed_search_warns_as_scikit_learn(monkeypatch):
    """An objective whose searches fail: the estimator says "ABNORMAL" with status 2,
    in scikit-learn's words, and keeps the last point it reached."""
    from anynet import training
    from anynet.sklearn import MLPClassifier
    from conftest import blobs
    real = training.training_objective

    def lying(net, data, alpha, dropout):
        fun = real(net, data, alpha, dropout)

        def wrong(x):
            f, g = fun(x)
            return f, -g  # uphill
        return wrong
    monkeypatch.setattr(training, "training_objective", lying)
    X, y = blobs(n=40)
    model, words = _fit(MLPClassifier, X, y, hidden_layer_sizes=(4,), random_state=0)
    assert model.n_iter_ == 0
    assert words == ["lbfgs failed to converge after 0 iteration(s) (status=2):\n"
                     "ABNORMAL: \n\nYou might also want to scale the data as shown in:\n"
                     "    https://scikit-learn.org/stable/modules/preprocessing.html"]
    assert math.isfinite(model.loss_)


def test_saved_with_its_settings_and_started_anew(tmp_path):
    """anynet.save(optimizer=True) writes L-BFGS's settings, not its run; a network
    continued with it starts a new run (its memory was of another loss)."""
    from conftest import blobs
    X, y = blobs(n=40)
    net = anynet.train(X, y, hidden=(4,), optimizer="lbfgs", epochs=5, verbose=False,
                       backend="numpy", dtype="float64", history_size=4, gtol=1e-7)
    anynet.save(net, tmp_path / "m.npz", optimizer=True)
    back = anynet.load(tmp_path / "m.npz")
    assert isinstance(back.optimizer, LBFGS) and not back.optimizer.started
    assert back.optimizer.hyperparameters() == net.optimizer.hyperparameters()
    again = anynet.train(X, y, network=back, optimizer=back.optimizer, epochs=3,
                         verbose=False)
    assert again.optimizer.n_iter == 3 and again.history["loss"][0] < net.history["loss"][0]


def test_a_non_finite_start_stops_without_searching(numpy_backend):
    xp = numpy_backend.xp
    calls = []

    def nan(x):
        calls.append(1)
        return xp.sum(x) * math.nan, x
    lbfgs, _ = run(xp, nan, on(numpy_backend, [1.0, 2.0]))
    assert (lbfgs.status, lbfgs.n_iter, len(calls)) == ("line_search", 0, 1)


def test_a_trained_network_keeps_its_weights_not_the_runs_memory():
    """After the run, ``net.optimizer`` reports (status, counts, loss) but holds no
    pairs, no x and no g: the network's weights have one owner, and take no more
    memory than themselves."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    net = anynet.train(X, y, hidden=(8,), optimizer="lbfgs", epochs=15, backend="numpy",
                       dtype="float64", verbose=False)
    lbfgs = net.optimizer
    assert lbfgs.n_iter == 15 and lbfgs.n_evals >= 15 and np.isfinite(lbfgs.f)
    assert lbfgs.x is None and lbfgs.g is None and lbfgs._memory == ()
    before = {k: np.array(v) for k, v in net.items()}
    net["W1"][0, 0] += 1.0  # a hand edit reaches the network alone
    assert net["W1"][0, 0] == before["W1"][0, 0] + 1.0
    again = anynet.train(X, y, network=net, optimizer=lbfgs, epochs=3, verbose=False)
    assert again.optimizer.n_iter == 3  # the next run starts its own memory
