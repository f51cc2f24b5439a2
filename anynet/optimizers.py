"""Optimizers: small update rules over state that mirrors the parameters.

Each optimizer keeps one state array per parameter (``m``, ``v`` ...) and a
step count, and updates the network with augmented assignments (``p -= step``):
on NumPy, CuPy, PyTorch and array_api_strict those run in place and allocate
no new parameter arrays; on JAX, whose arrays are immutable, Python falls back
to ``p = p - step``, and the result is stored back. One code path, both ways.
The gradients passed to ``step`` are scratch space: the rules overwrite them.

Hyperparameters are Python floats, checked when the optimizer is made, and
kept as attributes named as the constructor's arguments (``repr``, saving).
The formulas follow ``torch.optim`` (and are tested against it).

An optimizer object given to ``anynet.train`` is a template: each run works on
its own :meth:`Optimizer.fresh` copy, and the trained network keeps that copy,
with its state, as ``network.optimizer``.

Each step is two parts. :meth:`Optimizer.scalars` computes, on the host, the
step's Python floats (the learning rate, and for Adam its bias-corrected step
size); :meth:`Optimizer.apply` is the array arithmetic, a pure function of
(parameters, state, gradients, scalars), which a training loop may compile
(``jax.jit`` on JAX) as part of its batch step: so nothing in it may depend on
the step count but through the scalars.

To write your own, subclass :class:`Optimizer`: name its per-parameter state
arrays in ``state_names`` (kept in ``self.state[name][param]``), keep every
constructor argument as an attribute of the same name, and write
``_update(key, p, g, s)`` with ``s["lr"]`` the learning rate (and override
``scalars`` for anything else that changes from step to step). Such an
optimizer saves, checkpoints and compiles like the built-in ones.
"""
import copy
import math

from . import _checks
from ._params import arguments_repr, constructor_arguments
from .quasi_newton import LBFGS


class Optimizer:
    """Base class: ``step(net, grads, learning_rate)`` updates ``net`` in place.

    Attributes
    ----------
    t : int
        Steps taken.
    state : dict
        ``{name: {param: array}}`` for each name of ``state_names``, arrays
        shaped like the parameters, on the network's device (empty before the
        first step).
    """

    #: names of the per-parameter state arrays, each shaped like its parameter
    state_names = ()

    def __init__(self, weight_decay=0.0):
        self.weight_decay = _checks.positive_number(weight_decay, "weight_decay",
                                                    allow_zero=True)
        self.t = 0
        self.state = {}

    def __repr__(self):
        return arguments_repr(self)

    def hyperparameters(self):
        """The constructor's arguments, ``{name: value}``."""
        return constructor_arguments(self)

    def fresh(self):
        """A copy with the same hyperparameters and no state: what one run works on."""
        twin = copy.copy(self)
        for name, value in vars(self).items():
            if name not in ("t", "state"):  # hyperparameters: the template's own
                setattr(twin, name, copy.deepcopy(value))
        twin.t, twin.state = 0, {}
        return twin

    def start(self, net):
        """Zero state arrays mirroring ``net``'s parameters, unless it has some
        (inside the network's device scope)."""
        if not self.state and self.state_names:
            self.state = {name: {k: net.xp.zeros_like(p) for k, p in net.items()}
                          for name in self.state_names}

    def step(self, net, grads, learning_rate):
        """One update of every parameter of ``net`` from ``grads`` ({"dW1": ...})."""
        with net.backend.activate():  # zeros_like() and kernels run on the current device
            self.start(net)
            self.t += 1
            params, self.state = self.apply(net.xp, net, self.state, grads,
                                            self.scalars(learning_rate))
        return net

    def scalars(self, learning_rate):
        """This step's Python floats (``self.t`` already counts it): {"lr": ...}."""
        return {"lr": learning_rate}

    def apply(self, xp, params, state, grads, s):
        """The step's arithmetic: ``(params, state)`` updated from ``grads`` and the
        scalars ``s``, in place where the arrays allow it (JAX's are rebound).

        A pure function of its arguments (the hyperparameters are constants), so
        that a batch step can be compiled around it.
        """
        worker = copy.copy(self)  # state and namespace of this call only
        worker.xp, worker.state = xp, {name: dict(arrays) for name, arrays in state.items()}
        for key in params:
            p, g = worker._decay(params[key], grads["d" + key], s)
            params[key] = worker._update(key, p, g, s)
        return params, worker.state

    def _decay(self, p, g, s):
        """L2 weight decay: add the gradient of wd/2 * ||p||^2 (as torch.optim does)."""
        return (p, g + self.weight_decay * p) if self.weight_decay else (p, g)

    def _update(self, key, p, g, s):
        raise NotImplementedError

    def snapshot(self, xp):
        """A copy of the step count and state, for :meth:`restore` (made with the
        network's namespace ``xp``, inside its device scope; copies even of JAX's
        arrays, which a compiled step may donate)."""
        return self.t, {name: {k: xp.asarray(v, copy=True) for k, v in arrays.items()}
                        for name, arrays in self.state.items()}

    def restore(self, snapshot):
        """Go back to a :meth:`snapshot`."""
        self.t, self.state = snapshot[0], snapshot[1]

    def state_dict(self):
        """The state as {"t": int, name: {param: array}} (arrays of the network's backend)."""
        return {"t": self.t, **self.state}


class SGD(Optimizer):
    """Plain gradient descent: p -= lr * g."""

    def _update(self, key, p, g, s):
        g *= s["lr"]
        p -= g
        return p


class Momentum(Optimizer):
    """SGD with momentum, as torch.optim.SGD (dampening 0): v = mu * v + g.

    Nesterov's variant steps along g + mu * v instead of v
    (Sutskever et al., 2013, http://proceedings.mlr.press/v28/sutskever13.html).

    ``lr_in_velocity=True`` is scikit-learn's form, v = mu * v - lr * g and
    p += v (Nesterov's: p += mu * v - lr * g): the same steps while the learning
    rate is constant, but a velocity that keeps the rates it was made with when
    a schedule changes it.
    """

    state_names = ("velocity",)

    def __init__(self, momentum=0.9, nesterov=False, weight_decay=0.0, lr_in_velocity=False):
        super().__init__(weight_decay)
        self.momentum = _checks.positive_number(momentum, "momentum", allow_zero=True)
        if self.momentum > 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum!r}")
        self.nesterov = bool(nesterov)
        self.lr_in_velocity = bool(lr_in_velocity)

    def _update(self, key, p, g, s):
        if self.lr_in_velocity:
            return self._update_scaled(key, p, g, s)
        v = self.state["velocity"][key]
        v *= self.momentum
        v += g
        self.state["velocity"][key] = v
        if self.nesterov:
            g += self.momentum * v
        p -= s["lr"] * (g if self.nesterov else v)
        return p

    def _update_scaled(self, key, p, g, s):
        g *= s["lr"]  # g is scratch: it becomes lr * g
        v = self.state["velocity"][key]
        v *= self.momentum
        v -= g
        self.state["velocity"][key] = v
        if self.nesterov:
            p += self.momentum * v
            p -= g
        else:
            p += v
        return p


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015, https://arxiv.org/abs/1412.6980), torch.optim.Adam's form.

    The moments are kept scaled, ``m = m_adam / (1 - beta1)`` and
    ``v = v_adam / (1 - beta2)``, so that their updates ``m = beta1 m + g`` and
    ``v = beta2 v + g^2`` need no multiplication of g; the constant factors are
    folded into the step size. Same step, two passes fewer per parameter.
    """

    state_names = ("m", "v")

    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                 eps_before_correction=False):
        super().__init__(weight_decay)
        self.beta1 = _unit_interval(beta1, "beta1")
        self.beta2 = _unit_interval(beta2, "beta2")
        self.eps = _checks.positive_number(eps, "eps")
        self.eps_before_correction = bool(eps_before_correction)

    def scalars(self, learning_rate):
        # torch: p -= lr / bc1 * m_adam / (sqrt(v_adam / bc2) + eps), bc = 1 - beta^t;
        # with m_adam = (1 - b1) m and v_adam = (1 - b2) v that is k * m / (sqrt(v) + e)
        b1, b2, t = self.beta1, self.beta2, self.t
        root = math.sqrt((1.0 - b2) / (1.0 - b2 ** t))
        # Kingma & Ba's "efficient" form, scikit-learn's: eps is added to sqrt(v_adam)
        # before the bias correction, lr sqrt(bc2) / bc1 * m_adam / (sqrt(v_adam) + eps)
        eps = self.eps / math.sqrt(1.0 - b2) if self.eps_before_correction else \
            self.eps / root
        return {"lr": learning_rate, "eps": eps,
                "step": learning_rate * (1.0 - b1) / (1.0 - b1 ** t) / root}

    def _update(self, key, p, g, s):
        m, v = self.state["m"][key], self.state["v"][key]
        m *= self.beta1
        m += g
        g *= g  # g is scratch: it becomes g^2
        v *= self.beta2
        v += g
        self.state["m"][key], self.state["v"][key] = m, v
        denom = self.xp.sqrt(v)
        denom += s["eps"]
        step = m / denom
        step *= s["step"]
        p -= step
        return p


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019,
    https://arxiv.org/abs/1711.05101): p *= 1 - lr * wd before the Adam step."""

    def __init__(self, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01,
                 eps_before_correction=False):
        super().__init__(beta1, beta2, eps, weight_decay, eps_before_correction)

    def _decay(self, p, g, s):
        if self.weight_decay:
            p *= 1.0 - s["lr"] * self.weight_decay
        return p, g


class RMSprop(Optimizer):
    """RMSprop (Hinton, 2012), torch.optim.RMSprop's form: v = a v + (1 - a) g^2."""

    state_names = ("v",)

    def __init__(self, alpha=0.99, eps=1e-8, weight_decay=0.0):
        super().__init__(weight_decay)
        self.alpha = _unit_interval(alpha, "alpha")
        self.eps = _checks.positive_number(eps, "eps")

    def _update(self, key, p, g, s):
        v = self.state["v"][key]
        v *= self.alpha
        v += (1.0 - self.alpha) * (g * g)
        self.state["v"][key] = v
        denom = self.xp.sqrt(v)
        denom += self.eps
        step = g / denom
        step *= s["lr"]
        p -= step
        return p


def _unit_interval(value, name):
    value = _checks.positive_number(value, name, allow_zero=True)
    if value >= 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return value


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam, "adamw": AdamW,
              "rmsprop": RMSprop, "lbfgs": LBFGS}


def make_optimizer(optimizer, **options):
    """A new optimizer from its name (with ``options``), or a fresh copy of an
    Optimizer or ``LBFGS`` instance (a template: its state is not carried over).

    "lbfgs" is ``anynet.quasi_newton.LBFGS``: not an update rule but a minimiser
    of the whole training loss, which ``anynet.train`` runs an iteration per epoch.
    """
    if isinstance(optimizer, (Optimizer, LBFGS)):
        if options:
            raise ValueError(f"optimizer options {sorted(options)} cannot be combined "
                             f"with an Optimizer instance; give them to its constructor: "
                             f"{type(optimizer).__name__}(...)")
        return optimizer.fresh()
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer={optimizer!r} is not known; use one of "
                         f"{', '.join(map(repr, OPTIMIZERS))} or an Optimizer instance")
    try:
        return OPTIMIZERS[optimizer](**options)
    except TypeError as exc:
        raise TypeError(f"optimizer={optimizer!r}: {exc}") from exc
