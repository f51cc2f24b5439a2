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
import numbers

from . import _checks
from ._backend import compile_function, host_floats
from ._description import is_count, is_finite_number
from .lbfgs import MAX_LINE_SEARCH, lbfgs_converged, lbfgs_iteration, lbfgs_start
from .steps import batch_objective
from ._params import arguments_repr, constructor_arguments


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


class LBFGS(Optimizer):
    """L-BFGS over the flat vector of every parameter (``anynet.lbfgs``), for
    full-batch training: ``anynet.train`` makes each epoch one iteration.

    Parameters
    ----------
    history_size : int
        Curvature pairs kept (SciPy's and PyTorch's default: 10).
    max_fun : int
        Evaluations of the loss after which the run stops (scikit-learn's
        ``max_fun``): checked between iterations, as SciPy does, so the last
        iteration's line search may pass it by up to 20.
    gtol : float
        Converged when every gradient component is at most this in size
        (scikit-learn passes its ``tol``).
    ftol : float
        Converged when an iteration lowers the loss by a relative amount at most
        this (SciPy's default).

    Its state is the minimiser's (the point, its loss and gradient, the pairs)
    and ``evals``, the evaluations used. Each run starts it anew (a run's loss
    may not be the last one's: other data, another ``alpha``), and it is neither
    saved nor written to checkpoints.
    """

    def __init__(self, history_size=10, max_fun=15000, gtol=1e-5,
                 ftol=2.220446049250313e-09):
        super().__init__(0.0)
        self.history_size = _checks.positive_int(history_size, "history_size")
        self.max_fun = _checks.positive_int(max_fun, "max_fun")
        self.gtol = _checks.positive_number(gtol, "gtol", allow_zero=True)
        self.ftol = _checks.positive_number(ftol, "ftol", allow_zero=True)

    #: rows of a sparse X made dense at once by each evaluation
    sparse_chunk = 4096

    def start(self, net):
        """A run starts with no memory: the loss and gradient where it starts."""
        self.state = {}

    def program(self, net, data, alpha, dropout):
        """``fun(x) -> (f, g)``: the training objective of ``data`` (with the L2
        penalty ``alpha``, scikit-learn's scaling) and its gradient, over the flat
        parameter vector x; compiled on JAX.

        A sparse X is evaluated ``sparse_chunk`` rows at a time, each made dense on
        its own: the objective is the chunks' losses weighted by their share of the
        samples (or of the sample weight), plus the penalty once.
        """
        if dropout:
            raise ValueError("dropout needs a stochastic optimizer: L-BFGS minimises one "
                             "fixed loss")
        xp, keys, device = net.xp, list(net), net.device
        shapes = [tuple(net[k].shape) for k in keys]
        dtype = data.Y.dtype
        weighted, summed = data.S is not None, data.task.kind.reduction == "sum"
        objective = batch_objective(net, weighted, False, ())
        # 1 on the weights' entries of x, 0 on the biases': the penalty's own
        mask = xp.concat([xp.full((math.prod(shape),), 1.0 if key.startswith("W") else 0.0,
                                  dtype=dtype, device=device)
                          for key, shape in zip(keys, shapes)])
        n = data.n_total
        total_weight = host_floats(xp, xp.sum(data.S)) if weighted else float(n)
        l2 = alpha if summed else alpha / total_weight

        def fun(x, X, Y, S, share, l2):
            loss, grads = objective(_unflat(xp, x, keys, shapes), X, Y, S, None, 0.0)
            g = _flat(xp, [grads["d" + k] for k in keys]) * share
            weights = x * mask
            return loss * share + (0.5 * l2) * xp.sum(weights * weights), g + l2 * weights

        compiled = compile_function(net.backend, fun)
        if not data.sparse:
            return lambda x: compiled(x, data.X, data.Y, data.S, 1.0, l2)
        bounds = [(lo, min(lo + self.sparse_chunk, n)) for lo in range(0, n, self.sparse_chunk)]
        if summed:
            shares = [1.0] * len(bounds)
        elif weighted:
            shares = [host_floats(xp, xp.sum(data.S[lo:hi, :])) / total_weight
                      for lo, hi in bounds]
        else:
            shares = [(hi - lo) / n for lo, hi in bounds]

        def chunked(x):
            f = g = None
            for number, ((lo, hi), share) in enumerate(zip(bounds, shares)):
                X = xp.asarray(data.X[lo:hi].toarray(), device=device)
                S = None if data.S is None else data.S[lo:hi, :]
                fc, gc = compiled(x, X, data.Y[lo:hi, :], S, share,
                                  l2 if number == 0 else 0.0)
                f, g = (fc, gc) if f is None else (f + fc, g + gc)
            return f, g
        return chunked

    def flat(self, net):
        """Every parameter of ``net`` in one vector (weights and biases, in order)."""
        return _flat(net.xp, list(net.values()))

    def iterate(self, net, fun, data):
        """One L-BFGS iteration from ``net``'s parameters, which it updates.

        Returns (loss, bad, reason): the loss at the new point (a 0-d array, the
        penalty included), -1.0 if it is finite else 0.0 (an array), and why the
        run should stop ("converged", "max_fun", "line_search") or None.
        """
        xp = net.xp
        reason = None
        if not self.state:  # the first iteration: the loss and gradient where it starts
            x = self.flat(net)
            f, g = fun(x)
            self.state = {"lbfgs": lbfgs_start(xp, x, f, g, self.history_size), "evals": 1}
        state = self.state["lbfgs"]
        # SciPy's rule for max_fun: checked between iterations, so an iteration's line
        # search may pass it (by at most its own MAX_LINE_SEARCH trials)
        if lbfgs_converged(xp, state, self.gtol):
            reason = "gtol"
        elif self.state["evals"] > self.max_fun:
            reason = "max_evals"
        else:
            state, n_evals, reason = lbfgs_iteration(
                # one more than the line search's own cap: that cap ends it, not this
                xp, fun, state, max_evals=MAX_LINE_SEARCH + 1, ftol=self.ftol,
                gtol=self.gtol)
            self.state = {"lbfgs": state, "evals": self.state["evals"] + n_evals}
            if self.state["evals"] > self.max_fun:  # the budget is spent: said first
                reason = "max_evals"
        net.update(_unflat(xp, state["x"], list(net), [tuple(p.shape) for p in net.values()]))
        f = state["f"]
        bad = xp.where(xp.isfinite(f), xp.asarray(-1.0, dtype=f.dtype, device=net.device),
                       xp.asarray(0.0, dtype=f.dtype, device=net.device))
        why = {"gtol": "converged", "ftol": "converged", "max_evals": "max_fun",
               "no_progress": "line_search"}
        return f, bad, why.get(reason)

    def snapshot(self, xp):
        # no copies: an iteration builds a new state and never writes into the old one
        return self.t, {k: dict(v) if isinstance(v, dict) else v
                        for k, v in self.state.items()}

    def restore(self, snapshot):
        self.t, self.state = snapshot[0], snapshot[1]


def _flat(xp, arrays):
    """The arrays in one vector, each flattened in order."""
    return xp.concat([xp.reshape(a, (-1,)) for a in arrays])


def _unflat(xp, x, keys, shapes):
    """``{key: array of its shape}`` from the consecutive pieces of the vector x."""
    params, start = {}, 0
    for key, shape in zip(keys, shapes):
        size = math.prod(shape)
        params[key] = xp.reshape(x[start:start + size], shape)
        start += size
    return params


def _unit_interval(value, name):
    value = _checks.positive_number(value, name, allow_zero=True)
    if value >= 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    return value


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam, "adamw": AdamW,
              "rmsprop": RMSprop, "lbfgs": LBFGS}


def make_optimizer(optimizer, **options):
    """A new optimizer from its name (with ``options``), or a fresh copy of an
    Optimizer instance (a template: its state is not carried over)."""
    if isinstance(optimizer, Optimizer):
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


# --- what a file records of an optimizer (anynet.save, checkpoints) ------------------

def _name(optimizer):
    """The registered name, or "module:QualName" for another Optimizer subclass."""
    cls = type(optimizer)
    registered = [k for k, c in OPTIMIZERS.items() if c is cls]
    return registered[0] if registered else f"{cls.__module__}:{cls.__qualname__}"


def describe(optimizer, params):
    """(description, state arrays) of ``optimizer`` for a file.

    The description is JSON: {"name", "settings" (the constructor's arguments),
    "t"}; the state arrays are named "<state name>.<parameter>".

    Raises
    ------
    ValueError
        Naming the optimizer when it cannot be written faithfully: a constructor
        argument it does not keep, a setting that is not a number, string, bool
        or None, or state arrays that do not mirror the parameters.
    """
    what = f"optimizer {_name(optimizer)}"
    try:
        settings = optimizer.hyperparameters()
    except ValueError as exc:
        raise ValueError(f"cannot save the {what}: {exc}") from None
    for key, value in settings.items():
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            settings[key] = value = int(value)  # NumPy's integers and floats too
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            settings[key] = value = float(value)
        if not (value is None or isinstance(value, (bool, int, str))
                or isinstance(value, float) and math.isfinite(value)):
            raise ValueError(f"cannot save the {what}: its setting {key}={value!r} is not a "
                             f"finite number, a string, a bool or None")
    names = tuple(optimizer.state_names)
    if optimizer.t and set(optimizer.state) != set(names):
        raise ValueError(f"cannot save the {what}: its state holds {sorted(optimizer.state)} "
                         f"but its state_names are {list(names)}")
    arrays = {}
    for name in names if optimizer.t else ():
        for key, p in params.items():
            value = optimizer.state[name].get(key)
            if value is None or tuple(value.shape) != tuple(p.shape):
                raise ValueError(f"cannot save the {what}: state[{name!r}][{key!r}] does "
                                 f"not mirror the parameter {key} of shape {tuple(p.shape)}")
            arrays[f"{name}.{key}"] = value
    return {"name": _name(optimizer), "settings": settings, "t": optimizer.t}, arrays


def rebuild(description, template=None):
    """An optimizer, without state arrays, from a file's ``description``.

    A built-in optimizer is made from its name. Another subclass must be the
    class of ``template`` (a checkpoint's run) or one already imported here: a
    file never makes anynet import a module. Its step count ``t`` is set; the
    caller reads the state arrays (``state_names``) if ``t > 0``.

    Raises
    ------
    ValueError
        The description is malformed or names an optimizer not available here.
    """
    if not isinstance(description, dict) or not isinstance(description.get("name"), str):
        raise ValueError("its optimizer description has no name")
    name, settings, t = description["name"], description.get("settings", {}), \
        description.get("t")
    cls = OPTIMIZERS.get(name) or _subclass(name, template)
    if cls is None:
        raise ValueError(f"its optimizer is {name}, a class not imported here; import the "
                         f"module that defines it before loading")
    if not is_count(t):
        raise ValueError(f"its optimizer's step count t={str(t)[:40]} is not a step count")
    if not isinstance(settings, dict) or not all(
            v is None or isinstance(v, (bool, str)) or is_finite_number(v)
            for v in settings.values()):
        raise ValueError(f"its optimizer settings {str(settings)[:80]} are not finite "
                         f"numbers, strings, bools or None")
    try:
        optimizer = cls(**settings)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ValueError(f"its optimizer settings do not make a {name}: {exc}") from None
    optimizer.t = t
    return optimizer


def _subclass(name, template):
    if template is not None and _name(template) == name:
        return type(template)
    pending, seen = [Optimizer], set()
    while pending:  # every subclass imported so far, at any depth
        cls = pending.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                pending.append(sub)
                if f"{sub.__module__}:{sub.__qualname__}" == name:
                    return sub
    return None
