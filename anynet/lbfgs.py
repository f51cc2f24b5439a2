"""L-BFGS: a quasi-Newton minimiser over one flat parameter vector, on any Array API backend.

L-BFGS (limited-memory BFGS; Nocedal & Wright, *Numerical Optimization*, 2nd
ed., chapters 3 and 7) keeps the last ``m`` steps ``s_k = x_{k+1} - x_k`` and
gradient changes ``y_k = g_{k+1} - g_k``. They define an approximation ``H`` of
the inverse Hessian without ever forming it: the *two-loop recursion* applies
``H`` to the gradient in ``O(m n)``, which gives the direction ``d = -H g``. A
line search along ``d`` then picks a step length ``t`` that satisfies the
strong Wolfe conditions (enough decrease, and a slope that has flattened):

    f(x + t d) <= f(x) + c1 t g.d            (sufficient decrease, c1 = 1e-4)
    |g(x + t d).d| <= c2 |g.d|               (curvature, c2 = 0.9)

The second one guarantees ``s.y > 0``, so every stored pair keeps ``H``
positive definite and the next ``d`` a descent direction.

References, for the ideas (the code is written anew): SciPy's L-BFGS-B
(``scipy.optimize.minimize(method="L-BFGS-B")``; its stopping rules, its
first step ``1/||g||`` and its rule for skipping a pair), and PyTorch's
``torch.optim.LBFGS`` (its two-loop recursion and its ``_strong_wolfe`` line
search, which brackets a step and then zooms in on it by cubic interpolation).

What runs where
---------------
Every vector operation is an Array API call on the namespace ``xp`` the caller
passes, so the arrays stay on their device (a GPU's memory for CuPy or torch)
and no vector ever travels. The memory (``S``, ``Y``, ``rho``) and the two-loop
recursion, with its ``alpha``/``beta`` coefficients, stay on the device too.

Only *scalars that steer control flow* are read on the host, because a Python
``if`` needs a Python number: the function values ``f`` and the slopes
``g.d`` at each trial step of the line search, the sizes ``max |d|`` and
``max |x|`` (for the smallest meaningful step), ``s.y`` (whether to keep a
pair), and the stopping tests' ``max |g|``. They are read with
``anynet._backend.host_floats``, an explicit transfer: ``float(a)`` on a device
array is an implicit one, which CuPy and array_api_strict's non-default
devices refuse. Each group goes in one transfer (one wait for the device):
one as an iteration starts, one per trial step, one after the step.

Functions
---------
``lbfgs_start``      the state of a new run at ``x``
``lbfgs_iteration``  one iteration: direction, line search, memory update, stopping test
``lbfgs_converged``  whether ``max |g| <= gtol`` at the state's point

The state is a flat dict of arrays (on ``x``'s device, in ``x``'s dtype) and
Python numbers, so a caller can snapshot it by copying each array, and
checkpoint it. Arrays are never updated in place (JAX's are immutable): each
iteration builds new ones.
"""
import math
from collections import namedtuple

from ._backend import host_floats

#: Sufficient-decrease and curvature constants of the strong Wolfe conditions.
C1, C2 = 1e-4, 0.9
#: The most trial steps one line search takes (SciPy's maxls is 20, torch's 25).
MAX_LINE_SEARCH = 20
#: The reasons ``lbfgs_iteration`` may give for stopping (None: go on).
REASONS = ("gtol", "ftol", "max_evals", "no_progress")


def lbfgs_start(xp, x, f, g, history_size=10):
    """The state of a new run at ``x``, where ``fun(x)`` gave ``(f, g)``.

    Parameters
    ----------
    xp : module
        The Array API namespace of ``x``.
    x : array, shape (n,)
        The starting point.
    f : array, shape ()
        ``fun(x)``'s value.
    g : array, shape (n,)
        ``fun(x)``'s gradient.
    history_size : int
        How many (s, y) pairs the memory keeps (m).

    Returns
    -------
    dict
        ``x`` (n,), ``f`` (), ``g`` (n,): the current point; ``S``, ``Y`` (m, n)
        and ``rho`` (m,): the memory, a ring buffer whose last ``n_pairs`` rows
        hold the pairs, oldest first, with ``rho_i = 1 / (s_i . y_i)`` (the rows
        above them are unused); ``n_pairs`` and ``iteration``: Python ints.
    """
    if x.ndim != 1:
        raise ValueError(f"L-BFGS works on a flat vector; x has shape {tuple(x.shape)}")
    if int(history_size) < 1:
        raise ValueError(f"history_size must be at least 1, got {history_size!r}")
    m, n = int(history_size), x.shape[0]
    return {
        "x": x, "f": _as_array(xp, f, x), "g": g,
        "S": xp.zeros((m, n), dtype=x.dtype, device=x.device),
        "Y": xp.zeros((m, n), dtype=x.dtype, device=x.device),
        "rho": xp.zeros((m,), dtype=x.dtype, device=x.device),
        "n_pairs": 0,
        "iteration": 0,
    }


def lbfgs_converged(xp, state, gtol):
    """True when ``max |g| <= gtol`` at ``state["x"]`` (SciPy's ``gtol`` test).

    A NaN gradient is never converged.
    """
    return host_floats(xp, xp.max(xp.abs(state["g"]))) <= gtol


def _two_loop(xp, g, S, Y, rho, n_pairs):
    """The L-BFGS direction ``d = -H g`` by the two-loop recursion (N&W Algorithm 7.4).

    Parameters
    ----------
    g : array, shape (n,)
    S, Y : arrays, shape (m, n)
        The memory; its last ``n_pairs`` rows are the pairs, oldest first.
    rho : array, shape (m,)
        ``1 / (s_i . y_i)`` for each row.
    n_pairs : int
        How many rows hold pairs (at least 1).

    Returns
    -------
    array, shape (n,)
        The direction. Every coefficient stays a 0-d device array: nothing
        here is read on the host.
    """
    m = S.shape[0]
    # the pairs, oldest first, each row sliced once (a slice is one more kernel
    # launch, and on JAX without jit a slow one)
    pairs = [(S[i, :], Y[i, :], rho[i]) for i in range(m - n_pairs, m)]
    q = -g  # work on -g, so that the result is the direction itself
    alphas = []
    for s, y, rho_i in reversed(pairs):  # first loop: newest pair to oldest
        alpha = rho_i * xp.sum(s * q)
        q = q - alpha * y
        alphas.append(alpha)
    # H0 = gamma I, with gamma = s.y / y.y of the newest pair: the size of the
    # inverse Hessian along the last step, so that a step of 1 is usually accepted
    _, y_newest, rho_newest = pairs[-1]
    r = q / (rho_newest * xp.sum(y_newest * y_newest))
    for (s, y, rho_i), alpha in zip(pairs, reversed(alphas)):  # oldest to newest
        beta = rho_i * xp.sum(y * r)
        r = r + (alpha - beta) * s
    return r


def _as_array(xp, f, x):
    """f as a 0-d array like x: NumPy's reductions give NumPy scalars, not arrays."""
    return xp.asarray(f, dtype=x.dtype, device=x.device)


# One trial step of the line search: t and the host scalars f(x + t d) and
# g(x + t d).d, with the device arrays of the point (x, f, g).
_Trial = namedtuple("_Trial", "t f gtd x f_array g")


def _cubic_minimizer(a, b, low, high):
    """The minimiser of the cubic that matches f and f' at trials ``a`` and ``b``,
    kept in [low, high]; the middle of [low, high] when the cubic has none.

    The cubic through (t_a, f_a, f'_a) and (t_b, f_b, f'_b) has its minimum at
    (N&W, eq. 3.59)

        t_b - (t_b - t_a) (f'_b + d2 - d1) / (f'_b - f'_a + 2 d2),
        d1 = f'_a + f'_b - 3 (f_a - f_b) / (t_a - t_b),
        d2 = sign(t_b - t_a) sqrt(d1^2 - f'_a f'_b).

    Plain Python floats: these are the line search's host scalars.
    """
    values = (a.t, a.f, a.gtd, b.t, b.f, b.gtd)
    if all(math.isfinite(v) for v in values) and a.t != b.t:
        d1 = a.gtd + b.gtd - 3.0 * (a.f - b.f) / (a.t - b.t)
        square = d1 * d1 - a.gtd * b.gtd  # d1 * d1, not d1 ** 2: ** raises on overflow
        if math.isfinite(square) and square >= 0.0:
            d2 = math.copysign(math.sqrt(square), b.t - a.t)
            denominator = b.gtd - a.gtd + 2.0 * d2
            if denominator != 0.0:
                t = b.t - (b.t - a.t) * (b.gtd + d2 - d1) / denominator
                if math.isfinite(t):
                    return min(max(t, low), high)
    return 0.5 * (low + high)


def _strong_wolfe(xp, fun, x, d, start, t, budget, min_width):
    """A step along ``d`` that satisfies the strong Wolfe conditions (N&W Algorithms 3.5, 3.6).

    Two phases. *Bracketing*: try t, and while the trials keep going down with
    a slope still steep and negative, extrapolate further (up to 10 t). As soon
    as a trial is too high, or the slope turns non-negative, an interval is
    known to hold an acceptable step. *Zoom*: shrink that interval, trying the
    minimiser of the cubic fitted to its ends (kept 10% away from either end,
    so that every trial teaches something), until a trial satisfies both
    conditions.

    Parameters
    ----------
    x, d : arrays, shape (n,)
        The point and the (descent) direction.
    start : _Trial
        t = 0: f(x) and g(x).d < 0.
    t : float
        The first trial step.
    budget : int
        The most evaluations of ``fun`` it may make (>= 1).
    min_width : float
        The zoom gives up when its interval is narrower than this (in t):
        steps that close change x by less than its rounding.

    Returns
    -------
    (_Trial, int, str)
        The step, the number of evaluations, and ``"ok"`` (strong Wolfe holds),
        ``"budget"`` (evaluations ran out) or ``"failed"`` (the interval
        collapsed). When not "ok", the trial is the lowest one seen, which is
        ``start`` itself if none went below f(x).
    """
    n_evals = 0
    best = start
    armijo_slope = C1 * start.gtd  # f must fall at least this fast, per unit t
    flat_enough = -C2 * start.gtd  # |slope| at an acceptable step

    def evaluate(t):
        nonlocal n_evals, best
        x_t = x + t * d
        f_array, g = fun(x_t)
        n_evals += 1
        f, gtd = host_floats(xp, f_array, xp.sum(g * d))
        if not (math.isfinite(f) and math.isfinite(gtd)):
            # an overflow or a NaN: a step too long; +inf makes it the high end
            f, gtd = math.inf, math.nan
        trial = _Trial(t, f, gtd, x_t, f_array, g)
        if trial.f < best.f:
            best = trial
        return trial

    # bracketing: prev is the last trial (t = 0 at first), the new one is further along
    prev = start
    while True:
        if n_evals >= budget:
            return best, n_evals, "budget"
        trial = evaluate(t)
        if trial.f > start.f + armijo_slope * t or (prev.t > 0 and trial.f >= prev.f):
            low, high = prev, trial  # the minimum is between them, prev the lower
            break
        if abs(trial.gtd) <= flat_enough:
            return trial, n_evals, "ok"
        if trial.gtd >= 0:
            low, high = trial, prev  # the slope turned: the minimum lies behind
            break
        # still going down steeply: extrapolate, at least a little and at most 10x
        t = _cubic_minimizer(prev, trial, t + 0.01 * (t - prev.t), 10.0 * t)
        prev = trial

    # zoom: low is the lowest trial that satisfies sufficient decrease (or the
    # start), and its slope points towards high
    while True:
        if n_evals >= budget:
            return best, n_evals, "budget"
        a, b = min(low.t, high.t), max(low.t, high.t)
        width = b - a
        if width <= min_width:
            return best, n_evals, "failed"
        t = _cubic_minimizer(low, high, a + 0.1 * width, b - 0.1 * width)
        trial = evaluate(t)
        if trial.f > start.f + armijo_slope * t or trial.f >= low.f:
            high = trial
            continue
        if abs(trial.gtd) <= flat_enough:
            return trial, n_evals, "ok"
        if trial.gtd * (high.t - low.t) >= 0:
            high = low  # the slope points away from high: keep the side it points to
        low = trial


def lbfgs_iteration(xp, fun, state, *, max_evals, ftol=2.220446049250313e-09, gtol=1e-5):
    """One L-BFGS iteration from ``state["x"]``.

    The direction comes from the two-loop recursion over the stored pairs
    (steepest descent while the memory is empty), the step from a strong
    Wolfe line search (c1 = 1e-4, c2 = 0.9, cubic interpolation). The first
    trial step is 1, except with an empty memory: then it is ``1 / ||g||_2``
    (SciPy's rule), since ``-g`` says nothing about the scale of a good step.

    Parameters
    ----------
    xp : module
        The Array API namespace of the state's arrays.
    fun : callable
        ``fun(x) -> (f, g)``: f a 0-d array, g of x's shape, on x's device.
    state : dict
        From ``lbfgs_start`` or a previous iteration; not modified.
    max_evals : int
        The most calls of ``fun`` this iteration may make (>= 1). It is never
        exceeded: a caller that passes what is left of its budget never goes
        over it.
    ftol : float
        Stop when ``(f_old - f_new) / max(|f_old|, |f_new|, 1) <= ftol``.
    gtol : float
        Stop when ``max |g| <= gtol`` at the new point.

    Returns
    -------
    (dict, int, str or None)
        The new state, how many times ``fun`` was called, and why to stop:
        None to go on, or one of ``REASONS``, tested in this order:

        - ``"no_progress"``: no descent direction, or the line search found no
          lower point (with pairs in memory, the memory is cleared instead and
          the reason is None: the next iteration retries along -g, as SciPy
          does); the state is the start's.
        - ``"gtol"``: ``max |g| <= gtol`` at the new point.
        - ``"max_evals"``: the line search used all ``max_evals`` evaluations
          before a strong Wolfe step; the state is the lowest point seen, never
          worse than the start.
        - ``"ftol"``: the relative decrease of f was at most ``ftol``.

        A line search that gives up for another reason (the interval collapsed,
        or MAX_LINE_SEARCH trials) but found a lower point moves there and goes on.
    """
    if int(max_evals) < 1:
        raise ValueError(f"max_evals must be at least 1, got {max_evals!r}")
    x, g, n_pairs = state["x"], state["g"], state["n_pairs"]
    S, Y, rho = state["S"], state["Y"], state["rho"]

    def direction_scalars(d):  # f(x), the slope g.d, and the sizes max |d|, max |x|
        return host_floats(xp, state["f"], xp.sum(g * d), xp.max(xp.abs(d)), xp.max(xp.abs(x)))

    d = _two_loop(xp, g, S, Y, rho, n_pairs) if n_pairs else -g
    f_old, gtd, d_max, x_max = direction_scalars(d)
    if not gtd < 0 and n_pairs:
        # rounding made H lose positive definiteness: forget it, go downhill
        n_pairs, d = 0, -g
        f_old, gtd, d_max, x_max = direction_scalars(d)
    if not gtd < 0:  # g = 0 (a flat point), or NaN
        return dict(state, n_pairs=n_pairs), 0, "no_progress"

    if n_pairs:
        t = 1.0
    else:  # SciPy's first step: a step of length 1 along -g
        t = 1.0 / math.sqrt(-gtd)  # gtd = -||g||^2 here
    # below this width the zoom stops: the steps differ by less than x's rounding
    eps = float(xp.finfo(x.dtype).eps)
    min_width = eps * max(1.0, x_max) / d_max

    start = _Trial(0.0, f_old, gtd, x, state["f"], g)
    budget = min(int(max_evals), MAX_LINE_SEARCH)
    step, n_evals, status = _strong_wolfe(xp, fun, x, d, start, t, budget, min_width)
    ran_out = status == "budget" and n_evals >= max_evals

    if step.t == 0.0:  # not one trial went below f(x)
        if ran_out:
            return dict(state, n_pairs=n_pairs), n_evals, "max_evals"
        if n_pairs:
            return dict(state, n_pairs=0), n_evals, None
        return dict(state), n_evals, "no_progress"

    new = dict(state, x=step.x, f=_as_array(xp, step.f_array, x), g=step.g,
               iteration=state["iteration"] + 1)
    # the curvature pair; SciPy's rule: keep it only when s.y > eps * (-g_old.s), i.e.
    # when the slope grew by more than rounding (H stays positive definite)
    s, y = step.t * d, step.g - g
    sy = xp.sum(s * y)
    sy_host, g_max = host_floats(xp, sy, xp.max(xp.abs(step.g)))
    if sy_host > eps * step.t * (-gtd):
        new["S"] = xp.concat([S[1:, :], s[None, :]], axis=0)  # drop the oldest row
        new["Y"] = xp.concat([Y[1:, :], y[None, :]], axis=0)
        new["rho"] = xp.concat([rho[1:], xp.reshape(1.0 / sy, (1,))], axis=0)
        new["n_pairs"] = min(n_pairs + 1, S.shape[0])
    else:
        new["n_pairs"] = n_pairs

    if g_max <= gtol:  # lbfgs_converged's test, read with s.y
        return new, n_evals, "gtol"
    if ran_out:
        return new, n_evals, "max_evals"
    if (f_old - step.f) / max(abs(f_old), abs(step.f), 1.0) <= ftol:
        return new, n_evals, "ftol"
    return new, n_evals, None
