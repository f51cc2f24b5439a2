"""Training and prediction steps as pure functions of arrays, compiled where the
backend can.

A mini-batch step is two halves. ``gradients`` gathers the batch, runs the
forward and backward passes and keeps the epoch's running loss and its first
non-finite batch; ``update`` clips the gradients and takes the optimizer's step.
Between the two, an MPI run sums the gradients over its ranks. Each half is a
pure function of (parameters, optimizer state, data, scalars) that calls only
the Array API namespace, and the backend compiles it
(``_backend.compile_function``): ``jax.jit`` on JAX, donating the parameters
and the optimizer's state, which the step replaces (whoever keeps an old one
keeps a copy: snapshots, early stopping's best weights); elsewhere the same
code runs eagerly and updates in place. The
scalars (learning rate, the batch's number and weight, Adam's step size) are
Python floats: a compiled step takes them as arguments and is not compiled
again when they change.

Compiled functions are kept for the whole process, by a key that holds
everything they close over (the network's configuration, the optimizer's class
and hyperparameters, clipping, dropout...): each is built from its key alone, so
nothing outside the key can change what it does. A second ``train`` with the
same configuration and batch shapes compiles nothing; JAX's persistent cache
spares a new process the compiling.
"""
from dataclasses import dataclass, field

from . import propagation
from ._backend import compile_function
from .activations import ACTIVATIONS
from .losses import LOSSES
from .tasks import TABLE

#: compiled functions by key: each key is a frozen dataclass holding every input
#: its builder reads, and the builder is given the key alone (see :func:`_cached`)
_CACHE = {}


class _View(dict):
    """Parameters, with the configuration ``anynet.propagation`` reads from a network."""

    __slots__ = ("xp", "layers", "n_layers", "output_activation", "loss")


@dataclass(frozen=True)
class NetConfig:
    """Everything a compiled function knows of a network, compared by value.

    The cached steps are built from a ``NetConfig`` (never from the network
    itself), so a cache keyed by it cannot hand a function built for one network
    to another: the layer sizes, which dropout's slices close over, once were
    missing from a hand-written key. ``backend`` itself is not compared:
    ``place`` (its library, namespace, device) stands for it.
    """

    place: tuple
    layer_sizes: tuple
    activation: str
    output_activation: str
    loss: str
    backend: object = field(compare=False, repr=False)

    @classmethod
    def of(cls, net):
        """The configuration of a network (a NetConfig is its own)."""
        if isinstance(net, cls):
            return net
        b = net.backend
        return cls((b.name, b.xp.__name__, repr(b.device), b.current_device),
                   tuple(int(n) for n in net.layer_sizes), net.activation,
                   net.output_activation, net.loss, b)

    @property
    def xp(self):
        return self.backend.xp

    @property
    def n_layers(self):
        return len(self.layer_sizes) - 1

    def view(self, params):
        """A :class:`_View` of this configuration over the arrays ``params``."""
        v = _View(params)
        v.xp, v.n_layers = self.xp, self.n_layers
        v.output_activation, v.loss = self.output_activation, self.loss
        v.layers = tuple(
            (f"W{i}", f"b{i}", *ACTIVATIONS[self.output_activation if i == self.n_layers
                                            else self.activation])
            for i in range(1, self.n_layers + 1))
        return v


class OptimizerTemplate:
    """An optimizer's fresh copy (hyperparameters, no state), compared by its class
    and the repr of every attribute but ``t`` and ``state``: two templates are
    equal only when every hyperparameter its ``apply`` may read is."""

    def __init__(self, optimizer):
        self.optimizer = optimizer.fresh()
        self._signature = (type(optimizer), tuple(sorted(
            (name, repr(value)) for name, value in vars(self.optimizer).items()
            if name not in ("t", "state"))))

    def __eq__(self, other):
        return isinstance(other, OptimizerTemplate) and self._signature == other._signature

    def __hash__(self):
        return hash(self._signature)

    def __repr__(self):
        return f"OptimizerTemplate({self.optimizer!r})"


def _cached(key, build):
    """``build(key)``, made once per key for the process. The builder takes the key
    alone, so what it builds depends on nothing the key does not hold."""
    if key not in _CACHE:
        _CACHE[key] = build(key)
    return _CACHE[key]


@dataclass(frozen=True)
class TrainingKey:
    """What :func:`training_step` builds from."""

    net: NetConfig
    optimizer: OptimizerTemplate
    clip_norm: object
    update: object
    weighted: bool
    penalised: bool
    dropout: tuple


@dataclass(frozen=True)
class FiguresKey:
    """What :func:`epoch_figures` builds from."""

    net: NetConfig
    metric: object
    with_validation: bool
    weighted: bool


@dataclass(frozen=True)
class TrainingStep:
    """The two halves of a mini-batch step (see the module's docstring).

    ``gradients(params, X, Y, index, total, bad, number, weight, l2, S, K, C) -> (grads,
    total, bad)``: the gradients of the batch ``X[index], Y[index]`` (``C``, a row of
    class numbers (1, n_classes): Y holds class labels (n, 1), whose one-hot rows
    are made batch by batch); ``total`` plus ``weight``
    times its loss; ``bad``, the first non-finite batch so far (-1: none), set to
    ``number`` if this batch's loss is not finite.

    ``update(params, state, grads, scalars) -> (params, state)``: the clipped
    gradients' optimizer step.

    ``whole(params, state, X, Y, index, total, bad, number, weight, scalars) ->
    (params, state, total, bad)``: both halves as one program, for a run whose
    gradients go nowhere between them (one process): on JAX one compiled call
    per batch.
    """

    gradients: object
    update: object
    whole: object


def training_step(net, optimizer, clip_norm, update=None, *, weighted=False, alpha=0.0,
                  dropout=()):
    """The :class:`TrainingStep` of ``net`` trained by ``optimizer``, compiled and cached.

    ``update``: None for the optimizer's own ``apply``, or a rule, hashable and
    compared by value, that makes a drop-in for it from the optimizer
    (``anynet._accelerate.FusedAdam``: Adam's update as one fused pass; the
    caller decides where it applies). ``weighted``: the steps take sample
    weights; ``alpha``: the L2 penalty on the weights (see :func:`batch_objective`);
    ``dropout``: the rate of each hidden layer (empty: none).
    """
    key = TrainingKey(NetConfig.of(net), OptimizerTemplate(optimizer),
                      None if clip_norm is None else float(clip_norm), update,
                      bool(weighted), alpha > 0.0, tuple(float(r) for r in dropout))
    return _cached(key, _training_step)


def batch_objective(net, weighted, penalised, dropout):
    """``objective(params, Xb, Yb, Sb, Kb, l2) -> (loss, grads)``: a batch's loss and
    its gradients (``net``: a network or its :class:`NetConfig`).

    ``Sb``: the batch's sample weights, shape (n, 1), or None; the loss is their
    weighted average of the per-sample losses. ``Kb``: the batch's dropout draws,
    bool of shape (n, sum of the hidden sizes), True where a unit is kept, or
    None. ``l2``: the L2 coefficient of the weights, already divided by the
    whole batch's number of samples or weight sum (a Python float): scikit-learn's
    ``alpha``, ``loss + alpha / 2 * sum ||W||^2 / n_batch``.
    """
    config = NetConfig.of(net)
    xp, view, loss_fn = config.xp, config.view, LOSSES[config.loss]
    summed = TABLE[config.loss].reduction == "sum"
    edges = [0]
    for size in config.layer_sizes[1:-1]:
        edges.append(edges[-1] + size)

    def objective(params, Xb, Yb, Sb, Kb, l2):
        params = view(params)
        w = keep = None
        if weighted:  # this part's weighted average (the run weighs the parts)
            w = Sb if summed else Sb / xp.sum(Sb)
        if dropout:
            keep = [xp.astype(Kb[:, lo:hi], Xb.dtype) * (1.0 / (1.0 - rate))
                    for lo, hi, rate in zip(edges, edges[1:], dropout)]
        outputs = propagation.forward(params, Xb, keep)
        loss = loss_fn(xp, Yb, outputs[-1], w)
        grads = propagation.backward(params, outputs, Xb, Yb, w, keep)
        if penalised:
            loss = loss + propagation.add_weight_penalty(params, grads, l2)
        return loss, grads
    return objective


def _training_step(key):
    config = key.net
    xp, clip_norm = config.xp, key.clip_norm
    objective = batch_objective(config, key.weighted, key.penalised, key.dropout)
    template = key.optimizer.optimizer  # hyperparameters only: no run's state

    def gradients(params, X, Y, index, total, bad, number, weight, l2=0.0, S=None, K=None,
                  C=None):
        Xb, Yb = xp.take(X, index, axis=0), xp.take(Y, index, axis=0)
        if C is not None:  # Y holds class labels: this batch's one-hot rows, made here
            Yb = xp.astype(Yb == C, Yb.dtype)
        Sb = None if S is None else xp.take(S, index, axis=0)
        Kb = None if K is None else xp.take(K, index, axis=0)
        loss, grads = objective(params, Xb, Yb, Sb, Kb, l2)
        total = total + loss * weight
        # remember the first batch whose loss is not finite, without reading it here
        bad = xp.where((bad < 0.0) & ~xp.isfinite(loss), number, bad)
        return grads, total, bad

    # the optimizer's own update, or a rule that makes another from it (the fused Adam)
    apply = template.apply if key.update is None else key.update(template)

    def update(params, state, grads, scalars):
        if clip_norm is not None:
            clip_global_norm(xp, grads, clip_norm)
        return apply(xp, params, state, grads, scalars)

    def whole(params, state, X, Y, index, total, bad, number, weight, scalars, l2=0.0,
              S=None, K=None, C=None):
        grads, total, bad = gradients(params, X, Y, index, total, bad, number, weight, l2,
                                      S, K, C)
        params, state = update(params, state, grads, scalars)
        return params, state, total, bad

    backend = config.backend
    # JAX may update the parameters and the optimizer's state in place (donated: the
    # old arrays are gone after the call); XLA's Adam took 5x longer allocating anew
    return TrainingStep(compile_function(backend, gradients),
                        compile_function(backend, update, donate=(0, 1)),
                        compile_function(backend, whole, donate=(0, 1)))


def clip_global_norm(xp, grads, max_norm):
    """Scale all gradients by min(1, max_norm / (norm + 1e-6)) without a host sync
    (as ``torch.nn.utils.clip_grad_norm_``)."""
    total = sum(xp.sum(g * g) for g in grads.values())
    scale = xp.minimum(max_norm / (xp.sqrt(total) + 1e-6), 1.0)
    for key, g in grads.items():
        g *= scale
        grads[key] = g


def gradient_descent_step(net):
    """``step(params, X, Y, learning_rate) -> params``: one full-batch step of plain
    gradient descent (the tutorial's), compiled and cached."""
    return _cached(("descent", NetConfig.of(net)), _descent_step)


def _descent_step(key):
    config = key[1]

    def step(params, X, Y, learning_rate):
        params = config.view(params)
        grads = propagation.backward(params, propagation.forward(params, X), X, Y)
        return dict(propagation.update(params, grads, learning_rate))
    return compile_function(config.backend, step, donate=(0,))


def predictor(net):
    """``predict(params, X) -> outputs``: the cache-free forward pass, compiled and cached."""
    return _cached(("predict", NetConfig.of(net)), _predictor)


def _predictor(key):
    config = key[1]
    return compile_function(config.backend, lambda params, X: propagation.predict(
        config.view(params), X))


def epoch_figures(net, metric, with_validation, weighted=False):
    """``figures(params, X_val, Y_val, total, bad, S_val=None) -> 1-D array``, compiled
    and cached: a part's figures at the end of an epoch, for its one read on the host.
    ``S_val`` (with ``weighted``): the validation rows' sample weights, shape (n, 1),
    which weigh the validation loss and metric as scikit-learn weighs its scores.

    The array holds: ``total`` (the summed training loss), the validation loss
    and ``metric``'s parts on (X_val, Y_val) (zeros without validation rows),
    ``bad`` (the first non-finite batch, or -1), and 1 if every parameter is
    finite, else 0 (see ``anynet._run_data.pool_figures``).
    """
    return _cached(FiguresKey(NetConfig.of(net), metric, bool(with_validation),
                              bool(weighted)), _epoch_figures)


def _epoch_figures(key):
    config, metric = key.net, key.metric
    xp, view, loss_fn = config.xp, config.view, LOSSES[config.loss]
    width = metric.width(config.layer_sizes[-1])
    summed = TABLE[config.loss].reduction == "sum"
    with_validation, weighted = key.with_validation, key.weighted

    def figures(params, X_val, Y_val, total, bad, S_val=None):
        dtype = total.dtype
        finite = xp.all(xp.stack([xp.all(xp.isfinite(p)) for p in params.values()]))
        if with_validation:
            P = propagation.predict(view(params), X_val)
            w = None if not weighted else S_val / xp.sum(S_val)
            val_loss = loss_fn(xp, Y_val, P, S_val if weighted and summed else w)
            parts = metric.parts(xp, Y_val, P, w)
        else:  # zeros on total's device
            val_loss, parts = total * 0.0, xp.broadcast_to(total * 0.0, (width,))
        head = xp.stack([total, xp.astype(val_loss, dtype)])
        tail = xp.stack([xp.astype(bad, dtype), xp.astype(finite, dtype)])
        return xp.concat([head, xp.astype(parts, dtype), tail])
    return compile_function(config.backend, figures)
