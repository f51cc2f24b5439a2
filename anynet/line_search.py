"""The Moré-Thuente line search: a step that satisfies the strong Wolfe conditions.

Along a descent direction ``d`` from ``x``, with ``phi(t) = f(x + t d)`` and
``phi'(t) = g(x + t d) . d``, the search looks for a step ``t`` with

    phi(t) <= phi(0) + ftol t phi'(0)          (sufficient decrease)
    |phi'(t)| <= gtol |phi'(0)|                (curvature)

It keeps an interval ``[stx, sty]`` known to hold such a step (once one is
bracketed; before, it extrapolates), and picks each trial by the safeguarded
cubic and quadratic interpolation of Moré & Thuente, "Line search algorithms
with guaranteed sufficient decrease", ACM TOMS 20 (1994) 286-307.

This is MINPACK-2's ``dcsrch``/``dcstep``, the search SciPy's L-BFGS-B calls
(with ``ftol=1e-3, gtol=0.9, xtol=0.1``), rewritten as a small state machine
over Python floats: it never sees an array, so the caller evaluates each trial
on its device and hands back two host scalars per trial, read at once.
Following it step for step is what makes anynet's L-BFGS iterates SciPy's to
the rounding.

One addition: a trial whose ``phi`` or ``phi'`` is not finite (an overflow far
along ``d``) is not interpolated through (MINPACK would compute NaN steps);
the next trial is half-way back to the best step so far.
"""
import math

#: What ``tell`` may answer: evaluate ``stp`` again, done, or gave up (a warning).
FG, CONVERGENCE = "FG", "CONVERGENCE"
WARNINGS = ("ROUNDING ERRORS PREVENT PROGRESS", "XTOL TEST SATISFIED",
            "STP = STPMAX", "STP = STPMIN")


class MoreThuente:
    """One search, driven by its caller: ask ``stp``, evaluate, ``tell`` the result.

    Parameters
    ----------
    f0, g0 : float
        ``phi(0)`` and ``phi'(0)`` (``g0 < 0``: a descent direction).
    stp : float
        The first trial step (> 0).
    ftol, gtol, xtol : float
        The sufficient-decrease and curvature constants, and the relative width
        of the interval below which the search gives up (L-BFGS-B's: 1e-3, 0.9, 0.1).
    stpmin, stpmax : float
        Bounds of the step (L-BFGS-B's, unconstrained: 0 and 1e10).

    Attributes
    ----------
    stp : float
        The step to evaluate next (after ``tell`` answered ``FG``), or the
        step the search ended on.
    task : str
        ``FG``, ``CONVERGENCE`` or one of ``WARNINGS``.
    """

    def __init__(self, f0, g0, stp, *, ftol=1e-3, gtol=0.9, xtol=0.1, stpmin=0.0,
                 stpmax=1e10):
        if not g0 < 0.0:
            raise ValueError(f"g0 must be negative (a descent direction), got {g0!r}")
        if not 0.0 <= stpmin <= stp <= stpmax:
            raise ValueError(f"stp must be in [stpmin, stpmax] = [{stpmin}, {stpmax}], "
                             f"got {stp!r}")
        if min(ftol, gtol, xtol) < 0.0:
            raise ValueError("ftol, gtol and xtol must be non-negative")
        self.ftol, self.gtol, self.xtol = ftol, gtol, xtol
        self.stpmin, self.stpmax = stpmin, stpmax
        self.stp, self.task = float(stp), FG
        self.brackt, self.stage = False, 1
        self.finit, self.ginit = f0, g0
        self.gtest = ftol * g0
        self.width = stpmax - stpmin
        self.width1 = self.width / 0.5
        self.stx, self.fx, self.gx = 0.0, f0, g0
        self.sty, self.fy, self.gy = 0.0, f0, g0
        self.stmin, self.stmax = 0.0, stp + 4.0 * stp

    def tell(self, f, g):
        """``phi(stp)`` and ``phi'(stp)`` of the last trial; returns the new ``task``.

        ``FG``: evaluate at the new ``self.stp`` and tell again. ``CONVERGENCE``:
        ``stp`` satisfies both conditions. A warning: the search can do no better
        (``stp`` is the last trial; it may satisfy sufficient decrease only).
        """
        stp = self.stp
        if not (math.isfinite(f) and math.isfinite(g)):
            # too far: back half-way towards the best step so far, and never beyond
            self.stpmax = max(self.stpmin, stp)
            self.stp = self.stx + 0.5 * (stp - self.stx)
            return self.task
        ftest = self.finit + stp * self.gtest
        if self.stage == 1 and f <= ftest and g >= 0.0:
            self.stage = 2
        task = FG
        # the tests in dcsrch's order: a later one overrides an earlier one
        if self.brackt and (stp <= self.stmin or stp >= self.stmax):
            task = WARNINGS[0]
        if self.brackt and self.stmax - self.stmin <= self.xtol * self.stmax:
            task = WARNINGS[1]
        if stp == self.stpmax and f <= ftest and g <= self.gtest:
            task = WARNINGS[2]
        if stp == self.stpmin and (f > ftest or g >= self.gtest):
            task = WARNINGS[3]
        if f <= ftest and abs(g) <= self.gtol * -self.ginit:
            task = CONVERGENCE
        if task != FG:
            self.task = task
            return task

        try:
            stp = self._next(stp, f, g, ftest)
        except (ZeroDivisionError, OverflowError):  # MINPACK's inf and NaN, in Python
            stp = math.nan
        if not math.isfinite(stp):  # rounding made the interpolation meaningless
            self.task = WARNINGS[0]
            return self.task
        self.stp, self.task = stp, FG
        return FG

    def _next(self, stp, f, g, ftest):
        """dcsrch's update of the interval after a trial that ends nothing: the next step."""
        if self.stage == 1 and self.fx >= f > ftest:
            # the modified function psi(t) = phi(t) - phi(0) - ftol t phi'(0), while
            # no step has had a non-negative slope with sufficient decrease
            gtest = self.gtest
            (self.stx, fxm, gxm, self.sty, fym, gym, stp, self.brackt) = dcstep(
                self.stx, self.fx - self.stx * gtest, self.gx - gtest,
                self.sty, self.fy - self.sty * gtest, self.gy - gtest,
                stp, f - stp * gtest, g - gtest, self.brackt, self.stmin, self.stmax)
            self.fx, self.fy = fxm + self.stx * gtest, fym + self.sty * gtest
            self.gx, self.gy = gxm + gtest, gym + gtest
        else:
            (self.stx, self.fx, self.gx, self.sty, self.fy, self.gy, stp,
             self.brackt) = dcstep(self.stx, self.fx, self.gx, self.sty, self.fy, self.gy,
                                   stp, f, g, self.brackt, self.stmin, self.stmax)

        if self.brackt:  # a bisection when the interval does not shrink fast enough
            if abs(self.sty - self.stx) >= 0.66 * self.width1:
                stp = self.stx + 0.5 * (self.sty - self.stx)
            self.width1 = self.width
            self.width = abs(self.sty - self.stx)
            self.stmin, self.stmax = min(self.stx, self.sty), max(self.stx, self.sty)
        else:
            self.stmin = stp + 1.1 * (stp - self.stx)
            self.stmax = stp + 4.0 * (stp - self.stx)
        stp = min(max(stp, self.stpmin), self.stpmax)
        if self.brackt and (stp <= self.stmin or stp >= self.stmax
                            or self.stmax - self.stmin <= self.xtol * self.stmax):
            stp = self.stx  # no progress is possible: the best step so far, once more
        return stp


def dcstep(stx, fx, dx, sty, fy, dy, stp, fp, dp, brackt, stpmin, stpmax):
    """MINPACK-2's ``dcstep``: the interval's new ends and the next trial step.

    ``(stx, fx, dx)`` is the best step so far (its value and slope), ``(sty, fy,
    dy)`` the other end, ``(stp, fp, dp)`` the new trial. Four cases, by how the
    trial compares with the best (higher; slopes of opposite signs; a smaller
    slope of the same sign; a larger one), each choosing between the minimisers
    of the cubic and of the quadratic that match the known values and slopes.

    Returns
    -------
    (stx, fx, dx, sty, fy, dy, stp, brackt)
    """
    sgnd = math.copysign(1.0, dp) * math.copysign(1.0, dx) if dp and dx else 0.0
    if fp > fx:  # case 1: higher; the minimum is bracketed
        theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
        s = max(abs(theta), abs(dx), abs(dp))
        gamma = s * _sqrt(_square(theta / s) - (dx / s) * (dp / s))
        if stp < stx:
            gamma = -gamma
        p = (gamma - dx) + theta
        q = ((gamma - dx) + gamma) + dp
        stpc = stx + p / q * (stp - stx)
        stpq = stx + ((dx / ((fx - fp) / (stp - stx) + dx)) / 2.0) * (stp - stx)
        stpf = stpc if abs(stpc - stx) <= abs(stpq - stx) else stpc + (stpq - stpc) / 2.0
        brackt = True
    elif sgnd < 0.0:  # case 2: lower, the slope changed sign; bracketed
        theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
        s = max(abs(theta), abs(dx), abs(dp))
        gamma = s * _sqrt(_square(theta / s) - (dx / s) * (dp / s))
        if stp > stx:
            gamma = -gamma
        p = (gamma - dp) + theta
        q = ((gamma - dp) + gamma) + dx
        stpc = stp + p / q * (stx - stp)
        stpq = stp + (dp / (dp - dx)) * (stx - stp)
        stpf = stpc if abs(stpc - stp) > abs(stpq - stp) else stpq
        brackt = True
    elif abs(dp) < abs(dx):  # case 3: lower, same sign, the slope decreases in size
        theta = 3.0 * (fx - fp) / (stp - stx) + dx + dp
        s = max(abs(theta), abs(dx), abs(dp))
        gamma = s * _sqrt(max(0.0, _square(theta / s) - (dx / s) * (dp / s)))
        if stp > stx:
            gamma = -gamma
        p = (gamma - dp) + theta
        q = (gamma + (dx - dp)) + gamma
        r = p / q
        if r < 0.0 and gamma != 0.0:
            stpc = stp + r * (stx - stp)
        elif stp > stx:
            stpc = stpmax
        else:
            stpc = stpmin
        stpq = stp + (dp / (dp - dx)) * (stx - stp)
        if brackt:
            stpf = stpc if abs(stpc - stp) < abs(stpq - stp) else stpq
            if stp > stx:
                stpf = min(stp + 0.66 * (sty - stp), stpf)
            else:
                stpf = max(stp + 0.66 * (sty - stp), stpf)
        else:
            stpf = stpc if abs(stpc - stp) > abs(stpq - stp) else stpq
            stpf = min(max(stpf, stpmin), stpmax)
    else:  # case 4: lower, same sign, the slope does not decrease
        if brackt:
            theta = 3.0 * (fp - fy) / (sty - stp) + dy + dp
            s = max(abs(theta), abs(dy), abs(dp))
            gamma = s * _sqrt(_square(theta / s) - (dy / s) * (dp / s))
            if stp > sty:
                gamma = -gamma
            p = (gamma - dp) + theta
            q = ((gamma - dp) + gamma) + dy
            stpf = stp + p / q * (sty - stp)
        elif stp > stx:
            stpf = stpmax
        else:
            stpf = stpmin
    if fp > fx:
        sty, fy, dy = stp, fp, dp
    else:
        if sgnd < 0.0:
            sty, fy, dy = stx, fx, dx
        stx, fx, dx = stp, fp, dp
    return stx, fx, dx, sty, fy, dy, stpf, brackt


def _square(value):
    """value * value: ``**`` raises OverflowError where MINPACK gives inf."""
    return value * value


def _sqrt(value):
    """NumPy's sqrt as MINPACK's: NaN (not an exception) for a negative argument."""
    return math.sqrt(value) if value >= 0.0 else math.nan
