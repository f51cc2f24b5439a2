"""Learning-rate schedules against torch.optim.lr_scheduler, stepped once per epoch."""
import numpy as np
import pytest

from anynet.schedules import (CosineLR, ExponentialLR, ReduceLROnPlateau, SCHEDULES, StepLR,
                              make_schedule)

EPOCHS = 30
LOSSES = [1.0, 0.8, 0.7, 0.7, 0.71, 0.7, 0.72, 0.69, 0.7, 0.7] * 3


def _ours(schedule, base_lr=0.1, val=False):
    schedule.start(EPOCHS)
    key = "val_loss" if val else "loss"
    history = {"loss": [], "val_loss": []}
    lrs = []
    for epoch in range(EPOCHS):
        lrs.append(schedule(epoch, base_lr, history))
        history[key].append(LOSSES[epoch])
    return lrs


def _torch(make, base_lr=0.1, metric=False):
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base_lr)
    sched = make(torch.optim.lr_scheduler, opt)
    lrs = []
    for epoch in range(EPOCHS):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step(LOSSES[epoch]) if metric else sched.step()
    return lrs


@pytest.mark.parametrize("ours, theirs, metric", [
    (StepLR(7, 0.5), lambda s, o: s.StepLR(o, 7, 0.5), False),
    (ExponentialLR(0.9), lambda s, o: s.ExponentialLR(o, 0.9), False),
    (CosineLR(), lambda s, o: s.CosineAnnealingLR(o, EPOCHS), False),
    (CosineLR(t_max=20, eta_min=0.01), lambda s, o: s.CosineAnnealingLR(o, 20, 0.01), False),
    (ReduceLROnPlateau(0.5, patience=2), lambda s, o: s.ReduceLROnPlateau(o, factor=0.5,
                                                                          patience=2), True),
    (ReduceLROnPlateau(0.1, patience=1, min_lr=0.002),
     lambda s, o: s.ReduceLROnPlateau(o, factor=0.1, patience=1, min_lr=0.002), True),
], ids=["step", "exponential", "cosine", "cosine-tmax", "plateau", "plateau-min"])
def test_matches_torch(ours, theirs, metric):
    expected = _torch(theirs, metric=metric)
    upto = 21 if isinstance(ours, CosineLR) and ours.t_max == 20 else EPOCHS
    np.testing.assert_allclose(_ours(ours)[:upto], expected[:upto], rtol=1e-12)


def test_plateau_watches_validation_loss_when_there_is_one():
    assert _ours(ReduceLROnPlateau(0.5, patience=2), val=True) == _ours(
        ReduceLROnPlateau(0.5, patience=2))
    assert _ours(ReduceLROnPlateau(0.5, patience=2))[-1] < 0.1


def test_default_step_size_is_a_third_of_the_epochs():
    lrs = _ours(StepLR())
    assert lrs[9] == pytest.approx(0.1) and lrs[10] == pytest.approx(0.01)


def test_names_and_errors():
    assert set(SCHEDULES) == {"step", "exponential", "cosine", "plateau", "invscaling", "adaptive"}
    assert isinstance(make_schedule("cosine"), CosineLR)
    assert make_schedule(None) is None
    fn = lambda epoch, lr, history: lr  # noqa: E731
    assert make_schedule(fn) is fn
    with pytest.raises(ValueError, match="lr_schedule='linear' is not known"):
        make_schedule("linear")
    with pytest.raises(TypeError, match="lr_schedule must be a name"):
        make_schedule(3)
    with pytest.raises(ValueError, match="factor must be < 1"):
        ReduceLROnPlateau(factor=2.0)
    with pytest.raises(ValueError, match="gamma must be > 0"):
        ExponentialLR(-1.0)
