"""The compiled-step cache: a key holds every input its builder reads, so two runs that
differ in any one of them never share a step (once, the layer sizes were missing and
dropout's slices broke the next network of other sizes)."""
import dataclasses

import numpy as np
import pytest

import anynet
from anynet import steps
from anynet._accelerate import FusedAdam
from anynet.optimizers import Adam, Momentum
from anynet.steps import FiguresKey, NetConfig, TrainingKey

BASE = dict(sizes=(4, 10, 10, 3), activation="relu", output="softmax",
            loss="cross_entropy", backend="numpy")


def _net(sizes=BASE["sizes"], activation=BASE["activation"], output=BASE["output"],
         loss=BASE["loss"], backend=BASE["backend"]):
    return anynet.initialize_network(list(sizes), activation=activation,
                                     output_activation=output, loss=loss, backend=backend,
                                     dtype="float64")


def _step(net=None, optimizer=None, clip_norm=None, update=None, weighted=False, alpha=0.0,
          dropout=(0.5, 0.5)):
    return steps.training_step(net or _net(), optimizer or Adam(), clip_norm, update,
                               weighted=weighted, alpha=alpha, dropout=dropout)


#: one change of each input of TrainingKey (and of NetConfig's fields, through the net)
CHANGES = {
    "layer_sizes": lambda: _step(net=_net(sizes=(4, 5, 15, 3))),
    "activation": lambda: _step(net=_net(activation="tanh")),
    "output_activation": lambda: _step(net=_net(output="sigmoid", loss="mse")),
    "loss": lambda: _step(net=_net(loss="log_loss")),
    "place": lambda: _step(net=_net(backend="array_api_strict")),
    "optimizer": lambda: _step(optimizer=Momentum()),
    "optimizer hyperparameter": lambda: _step(optimizer=Adam(beta1=0.8)),
    "optimizer weight_decay": lambda: _step(optimizer=Adam(weight_decay=0.1)),
    "clip_norm": lambda: _step(clip_norm=1.0),
    "update": lambda: _step(update=FusedAdam()),
    "weighted": lambda: _step(weighted=True),
    "penalised": lambda: _step(alpha=1e-4),
    "dropout": lambda: _step(dropout=(0.5, 0.2)),
}


def test_every_field_of_the_keys_is_changed_by_a_case_here():
    """A field added to a key without a case here fails this test."""
    net_fields = {f.name for f in dataclasses.fields(NetConfig) if f.compare}
    step_fields = {f.name for f in dataclasses.fields(TrainingKey)} - {"net"}
    named = {name.split()[0] for name in CHANGES}
    assert net_fields | step_fields <= named, (net_fields | step_fields) - named
    assert not [f for f in dataclasses.fields(NetConfig) if not f.compare
                and f.name != "backend"]  # the backend is compared through `place`


def test_the_same_inputs_share_one_step():
    assert _step() is _step()
    assert _step(optimizer=Adam(beta1=0.8)) is _step(optimizer=Adam(beta1=0.8))
    assert _step(update=FusedAdam()) is _step(update=FusedAdam())  # a rule, by value


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_changing_one_input_gives_another_step(change):
    pytest.importorskip("numba") if change == "update" else None
    base = _step()
    changed = CHANGES[change]()
    assert changed is not base
    assert CHANGES[change]() is changed  # and that one is cached in turn


def test_figures_and_predictors_are_keyed_by_the_whole_configuration():
    from anynet.metrics import ARGMAX_ACCURACY, R2
    net = _net()
    figures = steps.epoch_figures(net, ARGMAX_ACCURACY, True)
    assert steps.epoch_figures(_net(), ARGMAX_ACCURACY, True) is figures
    for other in (steps.epoch_figures(_net(sizes=(4, 10, 10, 5)), ARGMAX_ACCURACY, True),
                  steps.epoch_figures(net, R2, True),
                  steps.epoch_figures(net, ARGMAX_ACCURACY, False),
                  steps.epoch_figures(net, ARGMAX_ACCURACY, True, weighted=True)):
        assert other is not figures
    assert {f.name for f in dataclasses.fields(FiguresKey)} == {
        "net", "metric", "with_validation", "weighted"}
    assert steps.predictor(net) is steps.predictor(_net())
    assert steps.predictor(_net(sizes=(4, 3, 3))) is not steps.predictor(net)


def test_runs_of_other_sizes_with_dropout_follow_one_another():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((40, 4)), rng.integers(0, 3, 40)
    for hidden in ((10, 10), (5, 15), (10, 10)):
        net = anynet.train(X, y, hidden=hidden, dropout=0.5, epochs=2, batch_size=16,
                           backend="numpy", verbose=False)
        assert net.layer_sizes == (4, *hidden, 3)


def test_a_grid_search_over_sizes_with_dropout_runs():
    pytest.importorskip("sklearn")
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV

    from anynet.sklearn import MLPClassifier
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((60, 4)), rng.integers(0, 3, 60)
    with pytest.warns(ConvergenceWarning):
        search = GridSearchCV(MLPClassifier(dropout=0.2, max_iter=3, random_state=0),
                              {"hidden_layer_sizes": [(10, 10), (5, 15)]}, cv=2,
                              error_score="raise").fit(X, y)
    assert len(search.cv_results_["mean_test_score"]) == 2
