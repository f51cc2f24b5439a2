"""L-BFGS: SciPy's L-BFGS-B without bounds, on any Array API backend.

L-BFGS (limited-memory BFGS; Nocedal & Wright, *Numerical Optimization*, 2nd
ed., chapters 3 and 7) keeps the last ``m`` steps ``s_k = x_{k+1} - x_k`` and
gradient changes ``y_k = g_{k+1} - g_k``. They define an approximation ``H`` of
the inverse Hessian without ever forming it: the *two-loop recursion* applies
``H`` to the gradient in ``O(m n)``, which gives the direction ``d = -H g``. The
Moré-Thuente line search (``anynet.line_search``) then picks the step.

This module follows L-BFGS-B (Byrd, Lu, Nocedal & Zhu 1995; Morales & Nocedal
2011; the code SciPy's ``minimize(method="L-BFGS-B")`` runs, which is what
scikit-learn's ``solver="lbfgs"`` calls) in every decision, so that on the same
objective the iterates are SciPy's to the rounding:

- ``H0 = (s.y / y.y) I`` of the newest pair; the first trial step is
  ``1 / ||g||`` on the first iteration, else 1; the search has ``ftol=1e-3``,
  ``gtol=0.9``, ``xtol=0.1``, at most ``max_line_search`` (20) evaluations.
- A pair is kept only when ``s.y > eps * (-g.s)``, with ``s.y`` from the line
  search's own slopes (``(g_new.d - g.d) t``, as L-BFGS-B computes it).
- Stopping, after each step, in SciPy's order: the evaluations spent
  (``n_evals > max_fun``); ``max |g| <= gtol`` (the projected gradient, without
  bounds the gradient); ``(f_k - f_{k+1}) / max(|f_k|, |f_{k+1}|, 1) <= ftol``.
  ``max_iter`` is the caller's (each ``iterate`` is one iteration).
- A search that fails (no descent direction; its 20 evaluations spent; a
  warning of the search without a lower point) is never a step and never a
  convergence: the memory is dropped and the search retried along ``-g``; if
  that fails too, the run stops with status ``"line_search"`` at its last
  point (L-BFGS-B's "ABNORMAL" termination). Where the search gives up with
  a warning at a lower point, L-BFGS-B takes that step, and so does this.

What runs where
---------------
Vectors stay on their device: the point, the gradient, the memory and the
two-loop recursion's coefficients are arrays of the caller's namespace ``xp``.
Only the scalars that steer control flow come to the host, as Python floats,
each read once, in one transfer per group (``anynet._backend.host_floats``):
the slope ``g.d`` as an iteration starts, and per trial of the line search its
``f``, slope and ``max |g|``. An iteration whose first trial is accepted (the
usual case) reads twice.
"""
import math

from . import _checks
from ._backend import host_floats
from ._params import arguments_repr, constructor_arguments
from .line_search import CONVERGENCE, FG, MoreThuente

#: Why a run stopped (``LBFGS.status``), and what SciPy's ``OptimizeResult.message`` says.
MESSAGES = {
    "gtol": "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL",
    "ftol": "CONVERGENCE: RELATIVE REDUCTION OF F <= FACTR*EPSMCH",
    "max_fun": "STOP: TOTAL NO. OF F,G EVALUATIONS EXCEEDS LIMIT",
    "max_iter": "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT",
    "line_search": "ABNORMAL: ",
}
#: L-BFGS-B's largest step without bounds (its ``big``)
MAX_STEP = 1e10


class LBFGS:
    """L-BFGS over one flat parameter vector: hyperparameters and one run's state.

    Not an ``anynet.optimizers.Optimizer``: it minimises one fixed function by
    evaluating it where it chooses, rather than applying gradients it is given.
    ``anynet.train(optimizer="lbfgs")`` makes each epoch one :meth:`iterate`.

    Parameters
    ----------
    history_size : int
        Curvature pairs kept (m; SciPy's ``maxcor``, 10).
    max_fun : int
        The run stops once it has evaluated the function more than this
        (scikit-learn's ``max_fun``), tested after each iteration as SciPy does.
    gtol : float
        Converged when every gradient component is at most this in size
        (scikit-learn passes its ``tol``).
    ftol : float
        Converged when an iteration lowers f by a relative amount at most this
        (SciPy's default: ``factr * eps``, 1e7 * 2.2e-16).
    max_line_search : int
        Evaluations one line search may make (SciPy's ``maxls``, 20).

    Attributes
    ----------
    status : str or None
        None while the run may go on, else a key of ``MESSAGES`` but "max_iter".
    n_iter : int
        Iterations done (steps taken): SciPy's ``nit``.
    n_evals : int
        Evaluations of the function: SciPy's ``nfev``.
    f : float or None
        The function at the current point (None before :meth:`start`).
    x, g : arrays of shape (n,)
        The current point and its gradient, on the caller's device.
    """

    def __init__(self, history_size=10, max_fun=15000, gtol=1e-5,
                 ftol=2.220446049250313e-09, max_line_search=20):
        self.history_size = _checks.positive_int(history_size, "history_size")
        self.max_fun = _checks.positive_int(max_fun, "max_fun")
        self.gtol = _checks.positive_number(gtol, "gtol", allow_zero=True)
        self.ftol = _checks.positive_number(ftol, "ftol", allow_zero=True)
        self.max_line_search = _checks.positive_int(max_line_search, "max_line_search")
        self.reset()

    def reset(self):
        """Forget the run: the next one starts with :meth:`start`."""
        self.status, self.n_iter, self.n_evals = None, 0, 0
        self.x = self.g = self.f = None
        self._memory = ()  # (s, y, 1 / s.y), oldest first; s and y on the device
        self._gamma = None  # s.y / y.y of the newest pair: H0's scale (a 0-d array)

    def release(self):
        """Let go of the run's arrays once it has ended (x, g and the pairs: about
        2 * history_size + 2 vectors as large as the parameters), keeping what it
        reports (``status``, ``n_iter``, ``n_evals``, ``f``): a trained network keeps
        its weights alone, and no array of them is also the optimizer's."""
        self.x = self.g = None
        self._memory, self._gamma = (), None

    def __repr__(self):
        return arguments_repr(self)

    def hyperparameters(self):
        """The constructor's arguments, ``{name: value}``."""
        return constructor_arguments(self)

    def fresh(self):
        """A copy with the same hyperparameters and no run: what one run works on."""
        return type(self)(**self.hyperparameters())

    @property
    def started(self):
        return self.f is not None

    @property
    def message(self):
        """SciPy's words for the status ("" while the run may go on)."""
        return MESSAGES.get(self.status, "")

    # --- a run ------------------------------------------------------------------

    def start(self, xp, x, fun):
        """Begin a run at ``x``: one evaluation, one read (f and ``max |g|``).

        Parameters
        ----------
        xp : module
            The Array API namespace of ``x``.
        x : array, shape (n,)
        fun : callable
            ``fun(x) -> (f, g)``: f a 0-d array, g of x's shape, on x's device.
        """
        if x.ndim != 1:
            raise ValueError(f"L-BFGS works on a flat vector; x has shape {tuple(x.shape)}")
        self.reset()
        f, g = fun(x)
        self.n_evals = 1
        self.f, g_max = host_floats(xp, f, xp.max(xp.abs(g)))
        self.x, self.g = x, g
        if g_max <= self.gtol:  # SciPy tests the starting point too
            self.status = "gtol"
        return self.status

    def iterate(self, xp, fun):
        """One iteration from ``self.x`` (a step, or the end of the run).

        Returns ``self.status``: None to go on. The state changes only by whole
        iterations: a failed search leaves the point where it was.
        """
        if self.status is not None:
            return self.status
        if not math.isfinite(self.f):  # no decrease can be measured from here
            self.status = "line_search"
            return self.status
        restarted = False
        while True:
            d = self._direction(xp)
            gd = host_floats(xp, xp.sum(self.g * d))  # the slope along d: read once
            descent = gd < 0.0 and math.isfinite(gd)  # else L-BFGS-B's "ascent direction"
            found = self._search(xp, fun, d, gd) if descent else None
            if found is not None:
                break
            if not self._memory or restarted:  # L-BFGS-B's ABNORMAL_TERMINATION_IN_LNSRCH
                self.status = "line_search"
                return self.status
            self._memory, self._gamma, restarted = (), None, True  # retry along -g

        stp, f, g, gd_new, g_max = found
        f_old, g_old = self.f, self.g
        self.x, self.f, self.g = self.x + stp * d, f, g
        self.n_iter += 1
        # SciPy's order: the budget (checked by its driver on each new point), then
        # the gradient, then the decrease
        if self.n_evals > self.max_fun:
            self.status = "max_fun"
        elif g_max <= self.gtol:
            self.status = "gtol"
        elif f_old - f <= self.ftol * max(abs(f_old), abs(f), 1.0):
            self.status = "ftol"
        else:
            self._remember(xp, stp * d, g - g_old, (gd_new - gd) * stp, -gd * stp)
        return self.status

    def _direction(self, xp):
        """``d = -H g`` by the two-loop recursion (N&W Algorithm 7.4); ``-g``
        without pairs (L-BFGS-B's Cauchy point with ``theta = 1``)."""
        if not self._memory:
            return -self.g
        q, alphas = -self.g, []
        for s, y, rho in reversed(self._memory):  # newest pair to oldest
            alpha = rho * xp.sum(s * q)  # a 0-d device array: nothing is read
            q = q - alpha * y
            alphas.append(alpha)
        r = self._gamma * q
        for (s, y, rho), alpha in zip(self._memory, reversed(alphas)):  # oldest first
            beta = rho * xp.sum(y * r)
            r = r + (alpha - beta) * s
        return r

    def _search(self, xp, fun, d, gd):
        """The Moré-Thuente search along ``d`` from ``self.x``.

        Returns (t, f, g, g.d, max |g|) of the accepted step, or None when the
        search failed. One read per trial: its f, slope and ``max |g|`` together.
        """
        first = min(1.0 / math.sqrt(-gd), MAX_STEP) if self.n_iter == 0 else 1.0
        search = MoreThuente(self.f, gd, first, stpmax=MAX_STEP)
        for _ in range(self.max_line_search):
            stp = search.stp
            f_array, g = fun(self.x + stp * d)
            self.n_evals += 1
            f, gd_t, g_max = host_floats(xp, f_array, xp.sum(g * d), xp.max(xp.abs(g)))
            task = search.tell(f, gd_t)
            if task == FG:
                continue
            if task == CONVERGENCE or f < self.f:  # a warning at a lower point: SciPy's step
                return stp, f, g, gd_t, g_max
            return None
        return None

    def _remember(self, xp, s, y, sy, floor):
        """Keep the pair (s, y) when ``s.y > eps * floor`` (L-BFGS-B's test; ``s.y``
        from the search's slopes), dropping the oldest beyond ``history_size``."""
        eps = float(xp.finfo(s.dtype).eps)
        if not sy > eps * floor:
            return
        self._memory = (*self._memory, (s, y, 1.0 / sy))[-self.history_size:]
        self._gamma = sy / xp.sum(y * y)  # H0 = (s.y / y.y) I: 1 / L-BFGS-B's theta

    # --- rollback -----------------------------------------------------------------

    def snapshot(self, xp=None):
        """The run's state, for :meth:`restore`. No copies: an iteration builds new
        arrays and never writes into those it had."""
        return dict(vars(self))

    def restore(self, snapshot):
        """Go back to a :meth:`snapshot`."""
        vars(self).update(snapshot)
