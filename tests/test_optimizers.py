"""Optimizers: hand-computed steps, torch.optim over 20 steps on every backend, bad settings."""
import math

import numpy as np
import pytest

import anynet
from anynet.optimizers import OPTIMIZERS, Adam, AdamW, Momentum, RMSprop, SGD, make_optimizer
from conftest import assert_on_backend, host

CASES = {
    # name: (anynet optimizer, torch.optim class name, torch keyword arguments)
    "sgd": (lambda: SGD(), "SGD", {}),
    "sgd-l2": (lambda: SGD(weight_decay=0.1), "SGD", {"weight_decay": 0.1}),
    "momentum": (lambda: Momentum(0.9), "SGD", {"momentum": 0.9}),
    "nesterov": (lambda: Momentum(0.8, nesterov=True, weight_decay=0.01), "SGD",
                 {"momentum": 0.8, "nesterov": True, "weight_decay": 0.01}),
    "adam": (lambda: Adam(), "Adam", {}),
    "adam-l2": (lambda: Adam(beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.05), "Adam",
                {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.05}),
    "adamw": (lambda: AdamW(weight_decay=0.1), "AdamW", {"weight_decay": 0.1}),
    "rmsprop": (lambda: RMSprop(), "RMSprop", {}),
    "rmsprop-l2": (lambda: RMSprop(alpha=0.9, eps=1e-6, weight_decay=0.01), "RMSprop",
                   {"alpha": 0.9, "eps": 1e-6, "weight_decay": 0.01}),
}


def _gradients(net_shapes, steps, seed=0):
    rng = np.random.default_rng(seed)
    return [{"d" + k: rng.standard_normal(shape) for k, shape in net_shapes.items()}
            for _ in range(steps)]


@pytest.mark.parametrize("case", list(CASES))
def test_twenty_steps_match_torch_optim(xp_backend, case):
    torch = pytest.importorskip("torch")
    make, torch_name, torch_kwargs = CASES[case]
    net = anynet.initialize_network([3, 4, 2], seed=1, backend=xp_backend)
    start = {k: host(v) for k, v in net.items()}
    params = {k: torch.tensor(v, requires_grad=True) for k, v in start.items()}
    lrs = [0.05 * (1 + (i % 3)) for i in range(20)]  # a changing learning rate too
    reference = getattr(torch.optim, torch_name)(params.values(), lr=lrs[0], **torch_kwargs)
    optimizer = make()
    for lr, grads in zip(lrs, _gradients({k: v.shape for k, v in start.items()}, 20)):
        for group in reference.param_groups:
            group["lr"] = lr
        for k, p in params.items():
            p.grad = torch.tensor(grads["d" + k])
        reference.step()
        on_device = {k: xp_backend.xp.asarray(g, device=xp_backend.device)
                     for k, g in grads.items()}
        optimizer.step(net, on_device, lr)
    for k, p in params.items():
        assert_on_backend(net[k], xp_backend, "float64")
        np.testing.assert_allclose(host(net[k]), p.detach().numpy(), rtol=1e-10, atol=1e-12,
                                   err_msg=k)


def _one_param_net(value):
    net = anynet.initialize_network([1, 1], output_activation="identity")
    net["W1"] = np.array([[value]])
    net["b1"] = np.array([[0.0]])
    return net


def _steps(optimizer, grads, lr, value=1.0):
    net = _one_param_net(value)
    for g in grads:
        optimizer.step(net, {"dW1": np.array([[g]]), "db1": np.array([[0.0]])}, lr)
    return float(net["W1"][0, 0])


def test_hand_computed_steps():
    # sgd: 1 - 0.1 * 2
    assert _steps(SGD(), [2.0], 0.1) == pytest.approx(0.8)
    # momentum: v1 = 2, p1 = 0.8; v2 = 0.9 * 2 + 1 = 2.8, p2 = 0.8 - 0.28
    assert _steps(Momentum(0.9), [2.0, 1.0], 0.1) == pytest.approx(0.52)
    # nesterov: v1 = 2, step 2 + 0.9 * 2 = 3.8 -> 0.62
    assert _steps(Momentum(0.9, nesterov=True), [2.0], 0.1) == pytest.approx(0.62)
    # adam's first step is lr * sign(g) (up to eps): m_hat = g, v_hat = g^2
    assert _steps(Adam(), [2.0], 0.1) == pytest.approx(0.9, abs=1e-7)
    # adam, two steps, by the paper's formulas
    m = v = 0.0
    p = 1.0
    for t, g in enumerate([2.0, -1.0], start=1):
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        p -= 0.1 * (m / (1 - 0.9 ** t)) / (math.sqrt(v / (1 - 0.999 ** t)) + 1e-8)
    assert _steps(Adam(), [2.0, -1.0], 0.1) == pytest.approx(p, rel=1e-12)
    # adamw decays first: p * (1 - 0.1 * 0.5) then the adam step
    assert _steps(AdamW(weight_decay=0.5), [2.0], 0.1) == pytest.approx(0.95 - 0.1, abs=1e-7)
    # rmsprop: v = 0.01 * 4, p = 1 - 0.1 * 2 / sqrt(0.04)
    assert _steps(RMSprop(), [2.0], 0.1) == pytest.approx(1 - 0.1 * 2 / (0.2 + 1e-8))
    # L2 weight decay adds wd * p to the gradient: 1 - 0.1 * (2 + 0.5)
    assert _steps(SGD(weight_decay=0.5), [2.0], 0.1) == pytest.approx(0.75)


def test_state_mirrors_parameters():
    net = anynet.initialize_network([3, 4, 2], seed=0)
    opt = Adam()
    opt.step(net, {"d" + k: np.ones_like(v) for k, v in net.items()}, 0.1)
    state = opt.state_dict()
    assert state["t"] == 1
    for name in ("m", "v"):
        assert {k: s.shape for k, s in state[name].items()} == {k: v.shape for k, v in net.items()}


@pytest.mark.parametrize("make, error, message", [
    (lambda: Momentum(momentum=1.5), ValueError, r"momentum must be in \[0, 1\]"),
    (lambda: Momentum(momentum=-0.1), ValueError, "momentum must be >= 0"),
    (lambda: Adam(beta1=1.5), ValueError, r"beta1 must be in \[0, 1\)"),
    (lambda: Adam(eps=0.0), ValueError, "eps must be > 0"),
    (lambda: RMSprop(alpha="0.9"), TypeError, "alpha must be a real number"),
    (lambda: SGD(weight_decay=-1.0), ValueError, "weight_decay must be >= 0"),
    (lambda: make_optimizer("lbfgsb"), ValueError, "optimizer='lbfgsb' is not known"),
    (lambda: make_optimizer("adam", momentum=0.9), TypeError, "optimizer='adam'"),
    (lambda: make_optimizer(Adam(), beta1=0.5), ValueError, "cannot be combined"),
])
def test_bad_settings(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_names():
    assert sorted(OPTIMIZERS) == ["adam", "adamw", "lbfgs", "momentum", "rmsprop", "sgd"]
    assert isinstance(make_optimizer("momentum", nesterov=True), Momentum)
