"""Losses against PyTorch's, and the output-layer gradient against differences."""
import numpy as np
import pytest

from anynet.activations import ACTIVATIONS
from anynet.losses import FUSED, LOSSES, check_loss, output_delta

xp = np
rng = np.random.default_rng(0)
A = rng.uniform(0.05, 0.95, size=(5, 3))
A_SOFT = A / A.sum(axis=1, keepdims=True)
Y = rng.integers(0, 2, size=(5, 3)).astype(float)
ONE_HOT = np.eye(3)[[0, 2, 1, 1, 0]]


def test_values_match_torch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    a, y = torch.tensor(A), torch.tensor(Y)
    assert LOSSES["mse"](xp, Y, A) == pytest.approx(F.mse_loss(a, y).item(), rel=1e-14)
    assert LOSSES["sse"](xp, Y, A) == pytest.approx(0.5 * F.mse_loss(a, y, reduction="sum").item())
    assert LOSSES["binary_cross_entropy"](xp, Y, A) == pytest.approx(
        F.binary_cross_entropy(a, y).item(), rel=1e-14)
    nll = F.nll_loss(torch.log(torch.tensor(A_SOFT)), torch.tensor([0, 2, 1, 1, 0]))
    assert LOSSES["cross_entropy"](xp, ONE_HOT, A_SOFT) == pytest.approx(nll.item(), rel=1e-14)


def test_saturated_outputs_match_torch_clamp():
    torch = pytest.importorskip("torch")
    a = np.array([[0.0, 1.0, 1e-50]])
    y = np.array([[1.0, 0.0, 1.0]])
    want = torch.nn.functional.binary_cross_entropy(torch.tensor(a), torch.tensor(y)).item()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert LOSSES["binary_cross_entropy"](xp, y, a) == pytest.approx(want)


@pytest.mark.parametrize("pair", sorted(FUSED))
def test_fused_output_gradients_are_exact(pair):
    """Each fused dL/dz equals the difference quotient of loss(activation(z)), but
    scikit-learn's squared_error: k = 3 times it (the gradient of the sum over the
    outputs, which scikit-learn descends while it reports their mean)."""
    activation, loss = pair
    forward = ACTIVATIONS[activation][0]
    z = rng.standard_normal((4, 3))
    y = ONE_HOT[:4] if loss in ("cross_entropy", "log_loss") else Y[:4]
    scale = 3.0 if loss == "squared_error" else 1.0
    delta = output_delta(xp, activation, loss, y, forward(xp, z))
    h = 1e-6
    for idx in np.ndindex(z.shape):
        e = np.zeros_like(z)
        e[idx] = h
        numeric = (LOSSES[loss](xp, y, forward(xp, z + e))
                   - LOSSES[loss](xp, y, forward(xp, z - e))) / (2 * h) * scale
        assert delta[idx] == pytest.approx(numeric, rel=1e-6, abs=1e-10)


def test_unsupported_pairs_are_refused():
    for activation in ("identity", "tanh", "relu", "softmax"):
        with pytest.raises(ValueError, match="needs output_activation='sigmoid'"):
            check_loss("binary_cross_entropy", activation)
    for activation in ("identity", "sigmoid"):
        with pytest.raises(ValueError, match="needs output_activation='softmax'"):
            check_loss("cross_entropy", activation)
    for activation in ACTIVATIONS:
        assert check_loss("mse", activation) == "mse"
