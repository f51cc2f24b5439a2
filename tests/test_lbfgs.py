"""anynet.lbfgs: L-BFGS on every backend, against SciPy's L-BFGS-B.

A small driver (``minimize``) loops ``lbfgs_iteration`` the way a training
loop does: it gives each iteration what is left of its budget of evaluations.
The test functions are written with ``xp`` calls only, so they run where their
arrays live; the backend matrix (conftest's ``xp_backend``) includes
array_api_strict on ``Device("device1")`` and ``cupy_like``, which refuse an
implicit transfer to the host and arrays made on the wrong device: passing
there shows that lbfgs reads only what it means to, through ``to_numpy``.
"""
import math

import numpy as np
import pytest

from anynet._backend import compile_function
from anynet.lbfgs import MAX_LINE_SEARCH, lbfgs_converged, lbfgs_iteration, lbfgs_start
from conftest import assert_on_backend, host, resolve

ROSENBROCK_START = [-1.2, 1.0] * 5  # the standard start, in 10 dimensions


def minimize(xp, fun, x0, *, gtol=1e-5, ftol=2.220446049250313e-09, max_evals=10_000,
             max_iter=1_000, history_size=10):
    """Loop lbfgs_iteration until it gives a reason, the budget is spent, or max_iter.

    Returns
    -------
    (state, n_evals, reason, path)
        ``path``: the NumPy copies of x after each iteration, the start first.
    """
    f, g = fun(x0)
    n_evals = 1
    state = lbfgs_start(xp, x0, f, g, history_size)
    path = [host(x0)]
    if lbfgs_converged(xp, state, gtol):
        return state, n_evals, "gtol", path
    for _ in range(max_iter):
        if n_evals >= max_evals:  # the iteration that spent the last evaluation went on
            return state, n_evals, "max_evals", path
        state, used, reason = lbfgs_iteration(xp, fun, state, max_evals=max_evals - n_evals,
                                              ftol=ftol, gtol=gtol)
        n_evals += used
        path.append(host(state["x"]))
        if reason is not None:
            return state, n_evals, reason, path
    return state, n_evals, "max_iter", path


def value(f):
    """A 0-d array (or NumPy's scalar, which NumPy's reductions give) as a Python float."""
    return float(host(f)) if hasattr(f, "__dlpack__") else float(f)


class Counted:
    """``fun`` that counts its calls and remembers the values it gave."""

    def __init__(self, fun):
        self.fun, self.calls, self.values = fun, 0, []

    def __call__(self, x):
        self.calls += 1
        f, g = self.fun(x)
        self.values.append(value(f))
        return f, g


# ---- test functions, in xp calls only -------------------------------------------------

def rosenbrock(xp):
    """sum_i 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2 and its gradient; minimum at (1, ..., 1)."""
    def fun(x):
        a, b = x[:-1], x[1:]
        r = b - a * a
        f = xp.sum(100.0 * r * r + (1.0 - a) * (1.0 - a))
        zero = xp.zeros((1,), dtype=x.dtype, device=x.device)
        # a_i's terms give d/dx_i, b_i's terms d/dx_{i+1}
        g = xp.concat([-400.0 * a * r - 2.0 * (1.0 - a), zero]) + xp.concat([zero, 200.0 * r])
        return f, g
    return fun


def logistic_data(n=200, d=20, seed=0):
    """A seeded logistic-regression problem: X (n, d), labels y in {-1, +1}."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d)
    y = np.where(X @ w + 0.5 * rng.standard_normal(n) > 0, 1.0, -1.0)
    return X, y


def logistic(xp, X, y, l2=1e-3):
    """mean_i log(1 + exp(-y_i x_i.w)) + l2/2 ||w||^2 and its gradient."""
    n = X.shape[0]

    def fun(w):
        z = y * (X @ w)
        f = xp.sum(xp.logaddexp(xp.zeros_like(z), -z)) / n + 0.5 * l2 * xp.sum(w * w)
        p = 1.0 / (1.0 + xp.exp(z))  # sigmoid(-z): the weight of each sample's gradient
        return f, -(X.T @ (y * p)) / n + l2 * w
    return fun


def on(backend, array, dtype="float64"):
    """A NumPy array as ``backend``'s array of ``dtype``, on its device."""
    return backend.xp.asarray(np.asarray(array, dtype=dtype), device=backend.device)


def logistic_on(backend, dtype="float64"):
    """The logistic problem's (fun, w0) on ``backend``; fun compiled where it can be (JAX)."""
    X, y = logistic_data()
    fun = logistic(backend.xp, on(backend, X, dtype), on(backend, y, dtype))
    return compile_function(backend, fun), on(backend, np.zeros(X.shape[1]), dtype)


# ---- against SciPy (on NumPy) -----------------------------------------------------------

def test_rosenbrock_converges_like_scipy(numpy_backend):
    optimize = pytest.importorskip("scipy.optimize")
    xp = numpy_backend.xp
    start = np.array(ROSENBROCK_START)
    options = dict(gtol=1e-5, ftol=1e-12)
    state, n_evals, reason, _ = minimize(xp, rosenbrock(xp), on(numpy_backend, start),
                                         **options)
    reference = optimize.minimize(optimize.rosen, start, jac=optimize.rosen_der,
                                  method="L-BFGS-B", options=options)
    said = f"lbfgs: {n_evals} evaluations ({reason}); scipy: {reference.nfev} ({reference.message})"
    assert reason in ("gtol", "ftol"), said
    np.testing.assert_allclose(host(state["x"]), np.ones(10), rtol=0, atol=1e-5, err_msg=said)
    assert n_evals <= 2 * reference.nfev, said


def test_logistic_regression_reaches_scipys_minimum(numpy_backend):
    optimize = pytest.importorskip("scipy.optimize")
    fun, w0 = logistic_on(numpy_backend)
    state, n_evals, reason, _ = minimize(numpy_backend.xp, fun, w0, gtol=1e-10)
    reference = optimize.minimize(lambda w: tuple(fun(w)), host(w0), jac=True,
                                  method="L-BFGS-B", options=dict(gtol=1e-10))
    f = value(state["f"])
    said = (f"lbfgs: f={f!r}, {n_evals} evaluations ({reason}); "
            f"scipy: f={reference.fun!r}, {reference.nfev} ({reference.message})")
    assert abs(f - reference.fun) <= 1e-8 * abs(reference.fun), said
    assert n_evals <= 2 * reference.nfev, said


# ---- the backend matrix ----------------------------------------------------------------

@pytest.fixture
def numpy_backend():
    return resolve("numpy")


@pytest.fixture(scope="module")
def numpy_logistic_run():
    """The float64 logistic run on NumPy: the path every backend must follow."""
    backend = resolve("numpy")
    fun, w0 = logistic_on(backend)
    return minimize(backend.xp, fun, w0, gtol=1e-8)


def test_same_iterates_on_every_backend(xp_backend, numpy_logistic_run):
    """float64: the same path, step by step, to 1e-10, with the same number of evaluations."""
    _, n_expected, reason_expected, expected = numpy_logistic_run
    with xp_backend.activate():
        fun, w0 = logistic_on(xp_backend)
        state, n_evals, reason, path = minimize(xp_backend.xp, fun, w0, gtol=1e-8)
    assert (n_evals, reason, len(path)) == (n_expected, reason_expected, len(expected))
    for k, (x, x_expected) in enumerate(zip(path, expected)):
        np.testing.assert_allclose(x, x_expected, rtol=0, atol=1e-10, err_msg=f"iteration {k}")
    for key in ("x", "f", "g", "S", "Y", "rho"):
        assert_on_backend(state[key], xp_backend, "float64")


def test_float32_keeps_dtype_and_device(xp_backend):
    with xp_backend.activate():
        fun, w0 = logistic_on(xp_backend, "float32")
        f0 = value(fun(w0)[0])
        state, n_evals, reason, _ = minimize(xp_backend.xp, fun, w0, max_iter=15)
    for key in ("x", "f", "g", "S", "Y", "rho"):
        assert_on_backend(state[key], xp_backend, "float32")
    f = value(state["f"])
    assert math.isfinite(f) and f < 0.5 * f0, (f0, f, reason)
    assert np.all(np.isfinite(host(state["x"])))


def barrier(xp):
    """sum_i x_i - log x_i (minimum at 1), +inf outside x > 0: the long quasi-Newton
    steps from large x land there, so line searches take several trials, some
    of them non-finite."""
    def fun(x):
        inside = x > 0
        safe = xp.where(inside, x, xp.ones_like(x))  # no log of a negative: no warning
        f = xp.sum(xp.where(inside, x - xp.log(safe), xp.full_like(x, math.inf)))
        return f, xp.where(inside, 1.0 - 1.0 / safe, xp.full_like(x, math.nan))
    return fun


BARRIER_START = np.geomspace(0.05, 10.0, 20)  # 20: the logistic runs' shapes, compiled once on JAX


def test_line_searches_on_every_backend(xp_backend):
    """Bracketing, zoom and non-finite trials on each device (device1 and cupy_like
    refuse an implicit transfer to the host, and arrays made on the wrong device)."""
    with xp_backend.activate():
        fun = Counted(compile_function(xp_backend, barrier(xp_backend.xp)))
        state, n_evals, reason, path = minimize(
            xp_backend.xp, fun, on(xp_backend, BARRIER_START), gtol=1e-8, ftol=1e-14)
    assert reason in ("gtol", "ftol"), reason
    assert n_evals > len(path) and not all(map(math.isfinite, fun.values))
    np.testing.assert_allclose(host(state["x"]), np.ones(20), rtol=0, atol=1e-6)


# ---- the budget of evaluations ---------------------------------------------------------

@pytest.mark.parametrize("problem", ["rosenbrock", "barrier"])
@pytest.mark.parametrize("budget", [1, 2, 3, 5, 10, 17])
def test_the_budget_of_evaluations_is_never_exceeded(numpy_backend, problem, budget):
    """The rule: an iteration calls fun at most max_evals times, so a driver that
    passes what is left never goes over its budget, not even by one."""
    xp = numpy_backend.xp
    make, start = {"rosenbrock": (rosenbrock, ROSENBROCK_START),
                   "barrier": (barrier, BARRIER_START)}[problem]
    fun = Counted(make(xp))
    state, n_evals, reason, _ = minimize(xp, fun, on(numpy_backend, start), max_evals=budget)
    assert fun.calls == n_evals <= budget
    assert reason == "max_evals"
    assert value(state["f"]) <= fun.values[0]  # never worse than the start
    assert value(state["f"]) == min(fun.values)  # the best point seen


def test_an_iteration_out_of_evaluations_returns_its_best_point(numpy_backend):
    xp = numpy_backend.xp

    def bowl(x):  # 0.5 ||x||^2: from far away, a first step of length 1 is far too short
        return 0.5 * xp.sum(x * x), x
    start = on(numpy_backend, [60.0, 80.0])
    state = lbfgs_start(xp, start, *bowl(start))
    shorter, n_evals, reason = lbfgs_iteration(xp, Counted(bowl), state, max_evals=1)
    assert (n_evals, reason) == (1, "max_evals")
    assert float(host(shorter["f"])) < value(state["f"])  # it moved, downhill

    def steep(x):  # 50 ||x||^2 from nearby: a first step of length 1 overshoots
        return 50.0 * xp.sum(x * x), 100.0 * x
    start = on(numpy_backend, [0.06, 0.08])
    state = lbfgs_start(xp, start, *steep(start))
    stayed, n_evals, reason = lbfgs_iteration(xp, Counted(steep), state, max_evals=1)
    assert (n_evals, reason) == (1, "max_evals")
    np.testing.assert_array_equal(host(stayed["x"]), host(start))  # no lower point: stays
    assert float(host(stayed["f"])) == value(state["f"])
    # and with one evaluation more, the cubic through the two trials finds the minimum
    _, n_evals, reason = lbfgs_iteration(xp, steep, state, max_evals=2, gtol=1e-8)
    assert (n_evals, reason) == (2, "gtol")


def test_max_evals_below_one_is_refused(numpy_backend):
    xp = numpy_backend.xp
    x = on(numpy_backend, [1.0, 2.0])
    fun = rosenbrock(xp)
    with pytest.raises(ValueError, match="max_evals"):
        lbfgs_iteration(xp, fun, lbfgs_start(xp, x, *fun(x)), max_evals=0)


# ---- stopping rules --------------------------------------------------------------------

def test_gtol_stops_a_quadratic_in_a_few_iterations(numpy_backend):
    xp = numpy_backend.xp
    a, c = on(numpy_backend, [1.0, 2.0, 3.0, 5.0]), on(numpy_backend, [1.0, -1.0, 2.0, 0.5])

    def quadratic(x):  # 1/2 sum_i a_i (x_i - c_i)^2, minimum at c
        return 0.5 * xp.sum(a * (x - c) * (x - c)), a * (x - c)
    state, n_evals, reason, path = minimize(xp, quadratic, on(numpy_backend, np.zeros(4)),
                                            gtol=1e-8, ftol=0.0)
    assert reason == "gtol" and len(path) - 1 <= 12, (reason, len(path) - 1, n_evals)
    assert np.max(np.abs(host(state["g"]))) <= 1e-8
    np.testing.assert_allclose(host(state["x"]), host(c), atol=1e-8)


def test_gtol_is_checked_before_the_first_iteration(numpy_backend):
    xp = numpy_backend.xp
    fun = Counted(rosenbrock(xp))
    state, n_evals, reason, _ = minimize(xp, fun, on(numpy_backend, np.ones(10)))
    assert (reason, n_evals, fun.calls) == ("gtol", 1, 1)


def test_ftol_stops_when_f_no_longer_falls_by_enough(numpy_backend):
    xp = numpy_backend.xp
    fun = Counted(rosenbrock(xp))
    ftol = 1e-6
    _, _, reason, path = minimize(xp, fun, on(numpy_backend, ROSENBROCK_START),
                                  gtol=0.0, ftol=ftol)
    assert reason == "ftol"
    f = [value(rosenbrock(xp)(on(numpy_backend, x))[0]) for x in path]  # f at each x

    def relative_decrease(f_old, f_new):
        return (f_old - f_new) / max(abs(f_old), abs(f_new), 1.0)
    decreases = [relative_decrease(f[k], f[k + 1]) for k in range(len(f) - 1)]
    assert decreases[-1] <= ftol < min(decreases[:-1])


# ---- cases without progress ------------------------------------------------------------

def test_a_constant_function_stops_cleanly(numpy_backend):
    xp = numpy_backend.xp

    def constant(x):
        return xp.sum(0.0 * x) + 3.0, xp.zeros_like(x)
    x = on(numpy_backend, [1.0, -2.0, 0.5])
    state = lbfgs_start(xp, x, *constant(x))
    assert lbfgs_converged(xp, state, 1e-5)
    # asked anyway (gtol < 0 is never met): no direction, so no progress, and no call
    after, n_evals, reason = lbfgs_iteration(xp, constant, state, max_evals=10, gtol=-1.0)
    assert (n_evals, reason) == (0, "no_progress")
    np.testing.assert_array_equal(host(after["x"]), host(x))
    assert value(after["f"]) == 3.0


def test_a_gradient_that_points_uphill_gives_no_progress(numpy_backend):
    """fun lies: its gradient is -grad f. -g then goes uphill, no trial is lower,
    and the line search gives up after shrinking its interval to nothing."""
    xp = numpy_backend.xp
    fun = Counted(lambda x: (xp.sum(x * x), -2.0 * x))
    x = on(numpy_backend, [1.0, -2.0])
    state, n_evals, reason, _ = minimize(xp, fun, x)
    assert reason == "no_progress" and n_evals <= 1 + MAX_LINE_SEARCH
    np.testing.assert_array_equal(host(state["x"]), host(x))
    assert value(state["f"]) == 5.0


def test_non_finite_trials_are_backed_away_from(numpy_backend):
    xp = numpy_backend.xp
    fun = Counted(barrier(xp))
    state, _, reason, _ = minimize(xp, fun, on(numpy_backend, BARRIER_START), gtol=1e-8,
                                   ftol=1e-14)
    assert not all(math.isfinite(v) for v in fun.values)  # some trials did land outside
    assert reason in ("gtol", "ftol")
    np.testing.assert_allclose(host(state["x"]), np.ones(20), atol=1e-6)


def test_the_memory_keeps_history_size_pairs(numpy_backend):
    """A ring buffer: (m, n) arrays whose last n_pairs rows are the pairs, the newest last."""
    xp = numpy_backend.xp
    state, _, _, path = minimize(xp, rosenbrock(xp), on(numpy_backend, ROSENBROCK_START),
                                 max_iter=6, history_size=3)
    assert state["S"].shape == state["Y"].shape == (3, 10) and state["rho"].shape == (3,)
    assert state["n_pairs"] == 3
    S, Y, rho = host(state["S"]), host(state["Y"]), host(state["rho"])
    np.testing.assert_allclose(S[-1], path[-1] - path[-2])
    np.testing.assert_allclose(rho, 1.0 / np.sum(S * Y, axis=1))


def test_a_state_is_not_changed_by_an_iteration(numpy_backend):
    """The caller may keep a state and restart from it (a snapshot): nothing is updated in place."""
    xp = numpy_backend.xp
    fun = rosenbrock(xp)
    state, _, _, _ = minimize(xp, fun, on(numpy_backend, ROSENBROCK_START), max_iter=4)
    before = {k: host(v) if not isinstance(v, int) else v for k, v in state.items()}
    lbfgs_iteration(xp, fun, state, max_evals=20)
    for key, value in before.items():
        np.testing.assert_array_equal(host(state[key]) if key not in ("n_pairs", "iteration")
                                      else state[key], value, err_msg=key)
