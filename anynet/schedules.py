"""Learning-rate schedules: the learning rate of each epoch.

A schedule is called at the start of every epoch as
``schedule(epoch, base_lr, history) -> lr``, with ``history`` the figures of
the epochs so far (see ``anynet.train``). The formulas match
``torch.optim.lr_scheduler`` stepped once per epoch. Any callable with that
signature is a schedule too.

A Schedule object given to ``anynet.train`` is a template: each run works on
its own copy, so a run never sees another run's state.
"""
import math

from . import _checks
from ._params import arguments_repr


class Schedule:
    """Base class: ``schedule(epoch, base_lr, history) -> lr``, with optional state."""

    def __repr__(self):
        return arguments_repr(self)

    def start(self, epochs):
        """Called once before training: reset any state."""

    def __call__(self, epoch, base_lr, history):
        raise NotImplementedError


class StepLR(Schedule):
    """lr = base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, step_size=None, gamma=0.1):
        self.step_size = None if step_size is None else _checks.positive_int(step_size,
                                                                             "step_size")
        self.gamma = _checks.positive_number(gamma, "gamma")

    def start(self, epochs):
        self._step = self.step_size or max(1, epochs // 3)  # default: three plateaus

    def __call__(self, epoch, base_lr, history):
        return base_lr * self.gamma ** (epoch // self._step)


class ExponentialLR(Schedule):
    """lr = base_lr * gamma ** epoch."""

    def __init__(self, gamma=0.95):
        self.gamma = _checks.positive_number(gamma, "gamma")

    def __call__(self, epoch, base_lr, history):
        return base_lr * self.gamma ** epoch


class CosineLR(Schedule):
    """Cosine annealing from base_lr to eta_min over t_max epochs (default: all of them)."""

    def __init__(self, t_max=None, eta_min=0.0):
        self.t_max = None if t_max is None else _checks.positive_int(t_max, "t_max")
        self.eta_min = _checks.positive_number(eta_min, "eta_min", allow_zero=True)

    def start(self, epochs):
        self._t_max = self.t_max or max(1, epochs)

    def __call__(self, epoch, base_lr, history):
        cos = math.cos(math.pi * min(epoch, self._t_max) / self._t_max)
        return self.eta_min + (base_lr - self.eta_min) * (1.0 + cos) / 2.0


class ReduceLROnPlateau(Schedule):
    """Multiply the learning rate by ``factor`` once the monitored loss (validation
    loss when there is one, else training loss) has not improved by a relative
    ``threshold`` for ``patience`` epochs; never below ``min_lr``."""

    def __init__(self, factor=0.1, patience=10, threshold=1e-4, min_lr=0.0):
        self.factor = _checks.positive_number(factor, "factor")
        if self.factor >= 1.0:
            raise ValueError(f"factor must be < 1, got {factor!r}")
        self.patience = _checks.positive_int(patience, "patience", allow_zero=True)
        self.threshold = _checks.positive_number(threshold, "threshold", allow_zero=True)
        self.min_lr = _checks.positive_number(min_lr, "min_lr", allow_zero=True)

    def start(self, epochs):
        self._best, self._bad, self._lr = math.inf, 0, None

    def __call__(self, epoch, base_lr, history):
        if self._lr is None:
            self._lr = base_lr
        if epoch == 0:
            return self._lr
        val = history.get("val_loss")
        current = val[-1] if val and val[-1] is not None else history["loss"][-1]
        if current < self._best * (1.0 - self.threshold):
            self._best, self._bad = current, 0
        else:
            self._bad += 1
        if self._bad > self.patience:
            self._lr, self._bad = max(self._lr * self.factor, self.min_lr), 0
        return self._lr


class InvScaling(Schedule):
    """scikit-learn's "invscaling": the first epoch at base_lr, then
    lr = base_lr / (t + 1) ** power_t, with t the samples seen before the epoch
    (``t0`` before the run, plus the epochs done times the training samples:
    ``anynet.train`` tells it how many). As scikit-learn's, whose new optimizer
    starts at the base rate and sets the next one at each epoch's end, also when a
    warm start continues with ``t0`` samples already seen."""

    def __init__(self, power_t=0.5, t0=0):
        self.power_t = _checks.positive_number(power_t, "power_t", allow_zero=True)
        self.t0 = _checks.positive_int(t0, "t0", allow_zero=True)
        self.samples_per_epoch = 1  # set by the run

    def __call__(self, epoch, base_lr, history):
        if epoch == 0:
            return base_lr
        return self.rate(base_lr, self.t0 + epoch * self.samples_per_epoch)

    def rate(self, base_lr, samples):
        """The rate after ``samples`` samples: base_lr / (samples + 1) ** power_t."""
        return base_lr / (samples + 1) ** self.power_t


class Adaptive(Schedule):
    """scikit-learn's "adaptive": the learning rate stays base_lr until the run's
    stopping rule fires (``anynet.train``'s ``early_stopping``, ``tol`` and
    ``patience``); then, instead of stopping, it is divided by 5 (``1 / factor``)
    and the count starts again. The run stops when the rule fires at a learning
    rate of ``min_lr`` (1e-6) or less. Without ``early_stopping`` the rule
    watches the training loss (as scikit-learn's). The divisions are the run's
    state (``RunState.reductions``), so a checkpoint keeps them."""

    def __init__(self, factor=0.2, min_lr=1e-6):
        self.factor = _checks.positive_number(factor, "factor")
        if self.factor >= 1.0:
            raise ValueError(f"factor must be < 1, got {factor!r}")
        self.min_lr = _checks.positive_number(min_lr, "min_lr", allow_zero=True)

    def __call__(self, epoch, base_lr, history):
        return base_lr  # the run multiplies it by factor ** reductions


SCHEDULES = {"step": StepLR, "exponential": ExponentialLR, "cosine": CosineLR,
             "plateau": ReduceLROnPlateau, "invscaling": InvScaling, "adaptive": Adaptive}


def make_schedule(lr_schedule):
    """None, a name from SCHEDULES (default settings), a Schedule, or a callable."""
    if lr_schedule is None or isinstance(lr_schedule, Schedule):
        return lr_schedule
    if isinstance(lr_schedule, str):
        if lr_schedule not in SCHEDULES:
            raise ValueError(f"lr_schedule={lr_schedule!r} is not known; use one of "
                             f"{', '.join(map(repr, SCHEDULES))}, a Schedule or a callable")
        return SCHEDULES[lr_schedule]()
    if isinstance(lr_schedule, type):
        raise TypeError(f"lr_schedule={lr_schedule.__name__} is a class; pass an instance, "
                        f"e.g. {lr_schedule.__name__}()")
    if callable(lr_schedule):
        return lr_schedule
    raise TypeError(f"lr_schedule must be a name, a Schedule or a callable, "
                    f"got {lr_schedule!r}")
