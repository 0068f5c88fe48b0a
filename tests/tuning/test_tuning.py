"""keras_recur.tuning: the search space, every keras-tuner tuner, the
results table, windows and plots."""

import csv
import doctest
import io
import re

import keras
import keras_tuner
import numpy as np
import pytest

import keras_recur
from keras_recur import tuning
from tests.testing import backend_free
from tests.testing import to_numpy


def recurrent_layers(model):
    """The recurrent layers of a model, looking inside Bidirectional."""
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Bidirectional):
            found.append(layer.forward_layer)
        elif isinstance(layer, keras.layers.RNN):
            found.append(layer)
    return found


def tuner_conditions(hypermodel):
    """{hyperparameter: the cells it is conditioned on}, as a tuner sees
    the search space."""
    tuner = keras_tuner.RandomSearch(
        hypermodel, "val_loss", max_trials=1, directory=None
    )
    return {
        p.name: p.conditions[0].values
        for p in tuner.oracle.get_space().space
        if p.conditions
    }


def build(hypermodel, **fixed):
    hp = keras_tuner.HyperParameters()
    for name, value in fixed.items():
        hp.Fixed(name, value)
    return hypermodel.build(hp), hp


def test_default_search_space():
    hypermodel = tuning.SequenceRegressor((10, 3))
    hp = keras_tuner.HyperParameters()
    hypermodel.declare_hyperparameters(hp)
    hypermodel.build(hp)
    space = {p.name: p for p in hp.space}
    assert list(space["cell"].values) == [
        "PeepholeLSTM",
        "CoupledLSTM",
        "GRU",
        "LayerNormLSTM",
        "EchoStateNetwork",
        "MinGRU",
        "MinLSTM",
        "LRU",
        "ClockworkRNN",
        "DepthGatedLSTM",
        "GridLSTM",
        "LSTM",
    ]
    assert list(space["units"].values) == [16, 32, 64, 128]
    assert list(space["depth"].values) == [1, 2]
    assert type(space["bidirectional"]).__name__ == "Boolean"
    assert list(space["dropout"].values) == [0.0, 0.1, 0.2, 0.3]
    assert list(space["recurrent_dropout"].values) == [0.0, 0.1, 0.2]
    rate = space["learning_rate"]
    assert (rate.min_value, rate.max_value, rate.sampling) == (
        1e-4,
        1e-2,
        "log",
    )
    assert space["clipnorm"].value == 0.0  # no clipping unless searched
    # The default cell is a PeepholeLSTM, so neither use_peepholes nor the
    # reservoir's hyperparameters are declared.
    assert not {"use_peepholes", "spectral_radius", "leaky"} & set(space)


def test_a_reservoir_trial_has_its_own_hyperparameters_and_no_dropout():
    hypermodel = tuning.SequenceRegressor(
        (10, 3),
        depth=1,
        bidirectional=False,
        cell_space={"EchoStateNetwork": {"spectral_radius": [0.5, 0.8]}},
    )
    model, hp = build(
        hypermodel,
        cell="EchoStateNetwork",
        spectral_radius=0.8,
        leaky=0.2,
        connectivity=0.3,
    )
    assert not {"dropout", "recurrent_dropout", "use_peepholes"} & set(
        hp.values
    )
    (layer,) = recurrent_layers(model)
    assert isinstance(layer, keras_recur.EchoStateNetwork)
    assert (layer.spectral_radius, layer.leaky, layer.connectivity) == (
        0.8,
        0.2,
        0.3,
    )
    # A tuner sees each condition on the cell.
    conditions = tuner_conditions(hypermodel)
    assert conditions["spectral_radius"] == ["EchoStateNetwork"]
    assert conditions["leaky"] == ["EchoStateNetwork"]
    assert "EchoStateNetwork" not in conditions["dropout"]
    assert "LayerNormLSTM" in conditions["dropout"]


def test_use_peepholes_exists_only_for_coupled_lstm():
    hypermodel = tuning.SequenceRegressor((10, 3), depth=1)
    for cell in ("PeepholeLSTM", "GRU", "LSTM"):
        _, hp = build(hypermodel, cell=cell)
        assert "use_peepholes" not in hp.values
    model, hp = build(hypermodel, cell="CoupledLSTM", use_peepholes=True)
    assert hp.values["use_peepholes"] is True
    assert recurrent_layers(model)[0].cell.use_peepholes is True
    # A tuner sees the condition on the cell.
    tuner = keras_tuner.RandomSearch(
        hypermodel, "val_loss", max_trials=1, directory=None
    )
    (peepholes,) = [
        p for p in tuner.oracle.get_space().space if p.name == "use_peepholes"
    ]
    (condition,) = peepholes.conditions
    assert condition.name == "cell" and condition.values == ["CoupledLSTM"]


def test_the_linear_cells_have_their_own_hyperparameters():
    hypermodel = tuning.SequenceRegressor(
        (10, 3),
        depth=1,
        bidirectional=False,
        cell_space={
            "MinGRU": {"log_space": [False, True]},
            "MinLSTM": {"log_space": [False, True]},
        },
    )
    model, hp = build(hypermodel, cell="MinLSTM", log_space=True, dropout=0.1)
    (layer,) = recurrent_layers(model)
    assert isinstance(layer, keras_recur.MinLSTM) and layer.log_space is True
    assert layer.dropout == pytest.approx(0.1)
    # No recurrent kernel, no recurrent dropout; no LRU settings.
    assert not {"recurrent_dropout", "state_dim", "r_min"} & set(hp.values)
    model, hp = build(hypermodel, cell="LRU", state_dim=64, r_min=0.9)
    (layer,) = recurrent_layers(model)
    assert (layer.state_dim, layer.r_min) == (64, 0.9)
    assert not {"recurrent_dropout", "log_space"} & set(hp.values)
    conditions = tuner_conditions(hypermodel)
    assert conditions["log_space"] == ["MinGRU", "MinLSTM"]
    assert conditions["state_dim"] == conditions["r_min"] == ["LRU"]
    assert "LRU" in conditions["dropout"]
    assert "LRU" not in conditions["recurrent_dropout"]


def oracle_space(hypermodel):
    tuner = keras_tuner.RandomSearch(
        hypermodel, "val_loss", max_trials=1, directory=None
    )
    return [p.get_config() for p in tuner.oracle.get_space().space]


@pytest.mark.parametrize(
    "old, new",
    [
        (
            {"use_peepholes": True},
            {"CoupledLSTM": {"use_peepholes": True}},
        ),
        (
            {"spectral_radius": [0.5, 0.8], "leaky": 0.2, "connectivity": 0.3},
            {
                "EchoStateNetwork": {
                    "spectral_radius": [0.5, 0.8],
                    "leaky": 0.2,
                    "connectivity": 0.3,
                }
            },
        ),
        (
            {"log_space": [True, False]},
            {
                "MinGRU": {"log_space": [True, False]},
                "MinLSTM": {"log_space": [True, False]},
            },
        ),
        (
            {"state_dim": 32, "r_min": tuning.Range(0.5, 0.99)},
            {"LRU": {"state_dim": 32, "r_min": tuning.Range(0.5, 0.99)}},
        ),
    ],
)
def test_the_old_cell_arguments_warn_and_map_onto_cell_space(old, new):
    with pytest.warns(DeprecationWarning, match="cell_space") as caught:
        deprecated = tuning.SequenceRegressor((5, 2), depth=1, **old)
    assert len(caught) == len(old)
    current = tuning.SequenceRegressor((5, 2), depth=1, cell_space=new)
    assert deprecated.cell_space == current.cell_space == new
    assert oracle_space(deprecated) == oracle_space(current)


def test_an_argument_given_twice_is_refused():
    with pytest.raises(ValueError, match="`r_min` is given twice"):
        with pytest.warns(DeprecationWarning):
            tuning.SequenceRegressor(
                (5, 2), r_min=0.5, cell_space={"LRU": {"r_min": 0.9}}
            )


def test_cell_space_must_be_a_dict():
    with pytest.raises(TypeError, match=r"cell_space=\[\('LRU'"):
        tuning.SequenceRegressor((5, 2), cell_space=[("LRU", {})])


def test_clipnorm_reaches_the_optimizer():
    hypermodel = tuning.SequenceRegressor(
        (10, 3), cell="GRU", depth=1, clipnorm=[0.0, 1.0]
    )
    model, _ = build(hypermodel, clipnorm=1.0)
    assert model.optimizer.clipnorm == 1.0
    model, _ = build(hypermodel, clipnorm=0.0)
    assert model.optimizer.clipnorm is None


@pytest.mark.parametrize(
    "cell, layer_class",
    [
        ("PeepholeLSTM", keras_recur.PeepholeLSTM),
        ("CoupledLSTM", keras_recur.CoupledLSTM),
        ("GRU", keras_recur.GRU),
        ("LayerNormLSTM", keras_recur.LayerNormLSTM),
        ("LSTM", keras.layers.LSTM),
    ],
)
def test_trial_values_reach_the_layers(cell, layer_class):
    hypermodel = tuning.SequenceRegressor((10, 3), outputs=2)
    model, hp = build(
        hypermodel,
        cell=cell,
        units=32,
        depth=2,
        bidirectional=True,
        dropout=0.2,
        recurrent_dropout=0.1,
        learning_rate=0.005,
    )
    layers = recurrent_layers(model)
    assert [type(layer) for layer in layers] == [layer_class] * 2
    assert [layer.return_sequences for layer in layers] == [True, False]
    for layer in layers:
        assert layer.cell.units == 32
        assert layer.cell.dropout == pytest.approx(0.2)
        assert layer.cell.recurrent_dropout == pytest.approx(0.1)
    assert sum(isinstance(x, keras.layers.Bidirectional) for x in model.layers)
    assert float(to_numpy(model.optimizer.learning_rate)) == pytest.approx(
        0.005
    )
    assert model.output_shape == (None, 2)


# One direction, no dropout: outputs are deterministic and causal.
PLAIN = dict(bidirectional=False, dropout=0.0, recurrent_dropout=0.0)


@pytest.mark.parametrize("cell", ["PeepholeLSTM", "CoupledLSTM", "GRU"])
def test_per_step_regressor_is_causal_and_applies_its_head_per_step(cell):
    hypermodel = tuning.SequenceRegressor(
        (7, 2), outputs=3, return_sequences=True
    )
    model, _ = build(hypermodel, cell=cell, units=8, depth=2, **PLAIN)
    assert model.output_shape == (None, 7, 3)
    assert [layer.return_sequences for layer in recurrent_layers(model)] == [
        True,
        True,
    ]
    x = np.random.default_rng(0).normal(size=(4, 7, 2)).astype("float32")
    outputs = to_numpy(model(x))
    # The head is the same Dense at every step: the recurrent stack's
    # sequence output times the kernel, plus the bias.
    stack = keras.Model(model.input, model.layers[-2].output)
    kernel, bias = (to_numpy(w) for w in model.layers[-1].weights)
    np.testing.assert_allclose(
        outputs, to_numpy(stack(x)) @ kernel + bias, rtol=1e-5, atol=1e-6
    )
    # One-directional: changing the inputs after step 3 leaves steps 0-3.
    changed = x.copy()
    changed[:, 4:] += 1.0
    changed_outputs = to_numpy(model(changed))
    np.testing.assert_allclose(
        changed_outputs[:, :4], outputs[:, :4], rtol=1e-5, atol=1e-6
    )
    assert np.abs(changed_outputs[:, 4:] - outputs[:, 4:]).max() > 1e-3


def test_per_step_classifier_learns_a_tagging_task():
    # Tag each step with whether the running sum of the inputs is positive.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(256, 6, 1)).astype("float32")
    y = (np.cumsum(x[:, :, 0], axis=1) > 0).astype("int32")
    hypermodel = tuning.SequenceClassifier(
        (6, 1), num_classes=2, return_sequences=True, seed=0
    )
    model, _ = build(
        hypermodel, cell="GRU", units=16, depth=1, learning_rate=0.01, **PLAIN
    )
    assert model.output_shape == (None, 6, 2)
    model.fit(x, y, epochs=40, batch_size=32, verbose=0)
    predicted = np.argmax(to_numpy(model.predict(x, verbose=0)), axis=-1)
    assert predicted.shape == y.shape
    assert np.mean(predicted == y) > 0.9


@pytest.mark.parametrize("cell", ["GRU", "MinGRU", "EchoStateNetwork"])
def test_mask_value_skips_the_padding_of_shorter_sequences(cell):
    hypermodel = tuning.SequenceClassifier(
        (None, 3), num_classes=4, mask_value=0.0
    )
    model, _ = build(hypermodel, cell=cell, units=8, depth=1, **PLAIN)
    rng = np.random.default_rng(2)
    short = rng.normal(size=(2, 4, 3)).astype("float32")
    padded = np.concatenate([short, np.zeros((2, 3, 3), "float32")], axis=1)
    np.testing.assert_allclose(
        to_numpy(model(padded)), to_numpy(model(short)), rtol=1e-5, atol=1e-6
    )
    unmasked = tuning.SequenceClassifier((None, 3), num_classes=4)
    model, _ = build(unmasked, cell=cell, units=8, depth=1, **PLAIN)
    assert not np.allclose(to_numpy(model(padded)), to_numpy(model(short)))


def test_fixed_narrowed_and_ranged_arguments():
    hypermodel = tuning.SequenceClassifier(
        (None, 4),
        num_classes=3,
        cell=["GRU", "CoupledLSTM"],
        units=tuning.Range(8, 24, step=8),
        depth=1,
        bidirectional=False,
        dropout=[0, 0.25],
        learning_rate=tuning.Range(1e-3, 1e-1, step=10, sampling="log"),
    )
    hp = keras_tuner.HyperParameters()
    hypermodel.build(hp)
    space = {p.name: p for p in hp.space}
    assert list(space["cell"].values) == ["GRU", "CoupledLSTM"]
    assert list(space["units"].values) == [8, 16, 24]
    assert type(space["depth"]).__name__ == "Fixed"
    assert space["depth"].value == 1
    assert space["bidirectional"].value is False
    assert list(space["dropout"].values) == [0.0, 0.25]
    assert list(space["learning_rate"].values) == pytest.approx(
        [1e-3, 1e-2, 1e-1]
    )


def test_tuner_hyperparameters_override_the_hypermodel():
    hp = keras_tuner.HyperParameters()
    hp.Fixed("cell", "GRU")
    hp.Choice("units", [4, 6])
    tuner = keras_tuner.RandomSearch(
        tuning.SequenceRegressor((5, 2)),
        "val_loss",
        max_trials=1,
        hyperparameters=hp,
        directory=None,
    )
    space = {p.name: p for p in tuner.oracle.get_space().space}
    assert space["cell"].value == "GRU"
    assert list(space["units"].values) == [4, 6]


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"cell": "Elman"}, "cell='Elman'"),
        ({"cell": ["GRU", "Nope"]}, "cell='Nope'"),
        ({"cell": tuning.Range(1, 2)}, "cell="),
        ({"units": 0}, "units=0"),
        ({"units": [16, 16]}, r"units=\[16, 16\]"),
        ({"units": []}, r"units=\[\]"),
        ({"depth": 1.5}, "depth=1.5"),
        ({"dropout": 1.0}, "dropout=1.0"),
        ({"recurrent_dropout": -0.1}, "recurrent_dropout=-0.1"),
        ({"learning_rate": 0}, "learning_rate=0"),
        ({"learning_rate": tuning.Range(0.1, 0.01)}, "learning_rate=Range"),
        (
            {"learning_rate": tuning.Range(0, 0.1, sampling="log")},
            "learning_rate=Range",
        ),
        ({"units": tuning.Range(4, 8, sampling="cubic")}, "units=Range"),
        # hp.Int takes it; every trial then failed without naming it.
        (
            {"units": tuning.Range(4, 8, step=2.5)},
            "integer step. Received: units=Range",
        ),
        (
            {"depth": tuning.Range(1, 3, step=0.5)},
            "integer step. Received: depth=Range",
        ),
        ({"bidirectional": "yes"}, "bidirectional='yes'"),
        (
            {"cell_space": {"CoupledLSTM": {"use_peepholes": [1, 0]}}},
            "use_peepholes=1",
        ),
        ({"seed": "a"}, "seed='a'"),
        ({"clipnorm": -1.0}, "clipnorm=-1.0"),
        ({"clipnorm": [1.0, float("inf")]}, "clipnorm=inf"),
        ({"cell_space": {"LRU": {"r_min": 1.0}}}, "r_min=1.0"),
        ({"cell_space": {"LRU": {"state_dim": 0}}}, "state_dim=0"),
        (
            {"cell_space": {"MinGRU": {"log_space": "yes"}}},
            "log_space='yes'",
        ),
        ({"cell_space": {"Elman": {}}}, "cell_space key 'Elman'"),
        (
            {"cell_space": {"GRU": {"r_min": 0.5}}},
            r"cell_space\['GRU'\]` must be a dict of GRU's own",
        ),
        (
            {"cell_space": {"MinGRU": {"log_space": True}}},
            "different spaces for MinGRU and MinLSTM",
        ),
    ],
)
def test_bad_search_space_is_named(arguments, message):
    with pytest.raises(ValueError, match=message):
        tuning.SequenceRegressor((5, 2), **arguments)


@pytest.mark.parametrize(
    "make",
    [
        lambda: tuning.SequenceRegressor((5, 2), units=4, depth=1),
        lambda: tuning.Seq2SeqHyperModel(10, 10, units=4, depth=1),
    ],
    ids=["SequenceRegressor", "Seq2SeqHyperModel"],
)
@pytest.mark.parametrize(
    "name, value, message",
    [
        ("cell", "NotACell", r"`cell` must name cells.*cell='NotACell'"),
        ("units", 0, "`units` must be a positive integer. Received: units=0"),
    ],
)
def test_a_tuner_override_is_checked_as_the_argument(
    make, name, value, message
):
    # The tuner's own definition (hyperparameters=) wins over the
    # hypermodel's, and was checked by nothing (a bare KeyError for a cell).
    hp = keras_tuner.HyperParameters()
    hp.Fixed(name, value)
    with pytest.raises(ValueError, match=message):
        make().build(hp)


def test_distribution_must_have_a_scope():
    with pytest.raises(TypeError, match="distribution='all'"):
        tuning.SequenceClassifier((5, 2), 3, distribution="all")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: tuning.SequenceRegressor((5,)), r"input_shape=\(5,\)"),
        (lambda: tuning.SequenceRegressor((5, 2), outputs=0), "outputs=0"),
        (
            lambda: tuning.SequenceRegressor(
                (5, 2), cell_space={"EchoStateNetwork": {"leaky": [0.5, 1.5]}}
            ),
            "leaky=1.5",
        ),
        (
            lambda: tuning.SequenceRegressor(
                (5, 2),
                cell_space={"EchoStateNetwork": {"spectral_radius": 0}},
            ),
            "spectral_radius=0",
        ),
        (
            lambda: tuning.SequenceRegressor(
                (5, 2),
                cell_space={"EchoStateNetwork": {"connectivity": 0.0}},
            ),
            "connectivity=0.0",
        ),
        (
            lambda: tuning.SequenceRegressor((5, 2), return_sequences=1),
            "return_sequences=1",
        ),
        (
            lambda: tuning.SequenceClassifier((5, 2), num_classes=1),
            "num_classes=1",
        ),
        (
            lambda: tuning.Seq2SeqHyperModel(10, 0),
            "target_vocabulary=0",
        ),
        (
            lambda: tuning.Seq2SeqHyperModel(10, 10, attention_units=[0]),
            "attention_units=0",
        ),
        (
            lambda: tuning.Seq2SeqHyperModel(10, 10, attention="dot"),
            "attention='dot'",
        ),
        (
            lambda: tuning.SequenceClassifier((None, 2), 3, mask_value="0"),
            "mask_value='0'",
        ),
        (lambda: tuning.SequenceTagger(0, ["O"]), "vocabulary_size=0"),
        (lambda: tuning.SequenceTagger(9, ["O", "X"]), "tag_names="),
        (
            lambda: tuning.SequenceTagger(9, ["O"], head=["crf", "hmm"]),
            "head='hmm'",
        ),
        (
            lambda: tuning.SequenceTagger(9, ["O"], embedding_dim=0),
            "embedding_dim=0",
        ),
        (
            lambda: tuning.SequenceTagger(9, ["O"], scheme_constraints=1),
            "scheme_constraints=1",
        ),
        (lambda: tuning.SequenceTagger(9, ["O"], scheme="BILOU"), "BILOU"),
        (
            lambda: tuning.SequenceTagger(9, ["O", "L-A"], scheme="BIOES"),
            "tag 'L-A' in tag_names=",
        ),
        (
            lambda: tuning.SequenceTagger(
                9, ["O"], scheme_constraints=True, bio_constraints=False
            ),
            "give one of them",
        ),
    ],
)
def test_bad_model_arguments_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_tagger_searches_scheme_constraints_in_crf_trials_only():
    tag_names = ["O", "S-A", "B-A", "E-A"]
    hypermodel = tuning.SequenceTagger(
        9, tag_names, scheme="BIOES", cell="GRU", units=4, depth=1
    )
    assert tuner_conditions(hypermodel)["scheme_constraints"] == ["crf"]
    built = {}
    for head, constrained in [("crf", True), ("crf", False), ("softmax", None)]:
        hp = keras_tuner.HyperParameters()
        hp.Fixed("head", head)
        if constrained is not None:
            with hp.conditional_scope("head", ["crf"]):
                hp.Fixed("scheme_constraints", constrained)
        built[head, constrained] = hypermodel.build(hp)
    want = keras_recur.layers.allowed_transitions("BIOES", tag_names)
    assert built["crf", True].crf.allowed_transitions == want
    assert built["crf", False].crf.allowed_transitions is None
    assert built["softmax", None].crf is None
    # Its span F1 reads BIOES: B-A E-A is one span, so a perfect match.
    span_f1 = hypermodel.metrics[1]
    span_f1.update_state([[2, 3, 0, 1]], [[2, 3, 0, 1]])
    assert float(span_f1.result()) == 1.0 and span_f1.scheme == "BIOES"
    # The old name still works, with a warning.
    with pytest.warns(DeprecationWarning, match="scheme_constraints=False"):
        old = tuning.SequenceTagger(
            9, tag_names, scheme="BIOES", bio_constraints=False
        )
    assert old.space["scheme_constraints"] is False


def regression_data(count=48, steps=6):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(count, steps, 2)).astype("float32")
    y = np.stack([x[:, :, 0].sum(1), x[:, -1, 1]], axis=1).astype("float32")
    return x, y


def test_a_one_trial_search_on_this_backend_reloads_its_best_model(tmp_path):
    # The searches below differ in keras-tuner's oracle, not in what the
    # backend runs: they run once; each backend runs this one trial.
    x, y = regression_data()
    hypermodel = tuning.SequenceRegressor(
        (6, 2), outputs=2, cell="GRU", units=4, depth=1, seed=3
    )
    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective="val_loss",
        max_trials=1,
        directory=str(tmp_path),
        seed=1,
    )
    tuner.search(x, y, validation_split=0.25, epochs=1, verbose=0)
    (row,) = tuning.ResultsTable.from_tuner(tuner).rows
    best = tuner.get_best_models(1)[0]
    val = best.evaluate(x[36:], y[36:], verbose=0)
    assert val[0] == pytest.approx(row["score"], rel=1e-4)
    path = str(tmp_path / "best.keras")
    best.save(path)
    np.testing.assert_allclose(
        to_numpy(keras.saving.load_model(path).predict(x, verbose=0)),
        to_numpy(best.predict(x, verbose=0)),
        atol=1e-6,
    )


@backend_free
@pytest.mark.parametrize(
    "tuner_class",
    [
        keras_tuner.RandomSearch,
        keras_tuner.BayesianOptimization,
        keras_tuner.Hyperband,
        keras_tuner.GridSearch,
    ],
)
def test_every_tuner_searches_and_the_best_model_reloads(
    tuner_class, tmp_path, capsys
):
    x, y = regression_data()
    hypermodel = tuning.SequenceRegressor(
        (6, 2),
        outputs=2,
        cell=["CoupledLSTM", "GRU", "PeepholeLSTM"],
        units=[4, 8],
        depth=1,
        dropout=0.0,
        recurrent_dropout=0.0,
        bidirectional=[False, True],
        learning_rate=0.01,
        seed=3,
    )
    budget = (
        {"max_epochs": 2, "hyperband_iterations": 1}
        if tuner_class is keras_tuner.Hyperband
        else {"max_trials": 3}
    )
    tuner = tuner_class(
        hypermodel,
        objective="val_loss",
        directory=str(tmp_path),
        project_name="search",
        seed=1,
        **budget,
    )
    fit = {} if tuner_class is keras_tuner.Hyperband else {"epochs": 2}
    tuner.search(x, y, validation_split=0.25, verbose=1, **fit)
    table = tuning.ResultsTable.from_tuner(tuner)
    assert len(table.rows) == len(tuner.oracle.trials) >= 2
    # The table numbers trials as keras-tuner printed them.
    printed = re.findall(
        r"Trial (\d+) Complete \[[^\]]*\]\nval_loss: (\S+)",
        capsys.readouterr().out,
    )
    assert {int(n): float(score) for n, score in printed} == {
        row["trial"]: row["score"] for row in table.rows
    }
    assert table.objective == "val_loss" and table.direction == "min"
    assert table.best() is table.rows[0]
    assert all(row["status"] == "COMPLETED" for row in table.rows)
    scores = [row["score"] for row in table.rows]
    assert scores == sorted(scores) and np.isfinite(scores).all()
    assert all(row["seconds"] > 0 for row in table.rows)
    for row in table.rows:
        assert ("use_peepholes" in row) == (row["cell"] == "CoupledLSTM")

    best = tuner.get_best_models(1)[0]
    expected = to_numpy(best.predict(x, verbose=0))
    # The best model's validation loss is the best trial's score.
    val = best.evaluate(x[36:], y[36:], verbose=0)
    assert val[0] == pytest.approx(scores[0], rel=1e-4)
    path = str(tmp_path / "best.keras")
    best.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(
        to_numpy(restored.predict(x, verbose=0)), expected, atol=1e-6
    )


def test_luong_trials_build_luongs_decoder():
    hypermodel = tuning.Seq2SeqHyperModel(
        12, 10, embedding_dim=8, cell="GRU", units=8, depth=1
    )
    model, hp = build(
        hypermodel, attention="luong", scale=True, input_feeding=False
    )
    assert not {"attention_units", "normalize"} & set(hp.values)
    decoder = model.decoder
    assert isinstance(decoder.attention, keras_recur.LuongAttention)
    assert decoder.attention.scale and decoder.input_feeding is False
    tokens = np.array([[3, 4, 5, 0], [6, 7, 0, 0]], "int32")
    assert tuple(model((tokens, tokens)).shape) == (2, 4, 10)


# keras-tuner's search around the seq2seq hypermodel; the model itself is
# tested on every backend (tests/models/test_seq2seq.py).
@backend_free
def test_seq2seq_hypermodel_searches_and_masks_padding(tmp_path):
    rng = np.random.default_rng(0)
    source = rng.integers(3, 12, (32, 6))
    source[:, 4:] = 0
    target_in = np.concatenate([np.ones((32, 1), int), source[:, :4]], 1)
    target_out = np.concatenate([source[:, :4], np.full((32, 1), 2)], 1)
    hypermodel = tuning.Seq2SeqHyperModel(
        12,
        12,
        embedding_dim=8,
        cell=["CoupledLSTM", "GRU"],
        units=8,
        # (A stacked recurrent_stack: the per-step regressor test.)
        depth=1,
        bidirectional=True,
        attention_units=[4, 8],
        learning_rate=0.01,
        seed=0,
    )
    tuner = keras_tuner.RandomSearch(
        hypermodel,
        "val_loss",
        max_trials=2,
        directory=str(tmp_path),
        seed=2,
    )
    space = {p.name: p for p in tuner.oracle.get_space().space}
    assert {"attention_units", "normalize", "use_peepholes"} <= set(space)
    # Each mechanism's hyperparameters exist only in its trials.
    for name, mechanism in [
        ("attention_units", "bahdanau"),
        ("normalize", "bahdanau"),
        ("scale", "luong"),
        ("input_feeding", "luong"),
    ]:
        (condition,) = space[name].conditions
        assert (condition.name, condition.values) == ("attention", [mechanism])
    tuner.search(
        (source, target_in),
        target_out,
        validation_split=0.25,
        epochs=1,
        verbose=0,
    )
    model = tuner.get_best_models(1)[0]
    assert isinstance(model, keras_recur.Seq2Seq)
    hp = tuner.get_best_hyperparameters(1)[0].values
    if hp["attention"] == "bahdanau":
        assert model.decoder.attention.units == hp["attention_units"]
    else:
        assert model.decoder.input_feeding == hp["input_feeding"]
    # Padding never reaches the memory of the real tokens, both ways.
    longer = np.concatenate([source, np.zeros((32, 3), int)], axis=1)
    memory, _ = model.encode(source)
    longer_memory, _ = model.encode(longer)
    np.testing.assert_allclose(
        to_numpy(memory)[:, :4], to_numpy(longer_memory)[:, :4], atol=1e-5
    )
    path = str(tmp_path / "seq2seq.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(
        to_numpy(restored.predict((source, target_in), verbose=0)),
        to_numpy(model.predict((source, target_in), verbose=0)),
        atol=1e-5,
    )


def test_results_table_formats():
    table = tuning.ResultsTable(
        [
            {
                "trial": "1",
                "status": "COMPLETED",
                "score": 0.25,
                "seconds": 2.0,
                "cell": "GRU",
            },
            {
                "trial": "0",
                "status": "COMPLETED",
                "score": 0.5,
                "seconds": 3.5,
                "cell": "CoupledLSTM",
                "use_peepholes": True,
            },
        ],
        ["trial", "status", "score", "seconds", "cell", "use_peepholes"],
    )
    assert table.to_markdown().splitlines() == [
        "| trial | status | score | seconds | cell | use_peepholes |",
        "|---|---|---|---|---|---|",
        "| 1 | COMPLETED | 0.25 | 2 | GRU |  |",
        "| 0 | COMPLETED | 0.5 | 3.5 | CoupledLSTM | True |",
    ]
    rows = list(csv.DictReader(io.StringIO(table.to_csv())))
    assert rows[0] == {
        "trial": "1",
        "status": "COMPLETED",
        "score": "0.25",
        "seconds": "2.0",
        "cell": "GRU",
        "use_peepholes": "",
    }
    assert rows[1]["use_peepholes"] == "True"
    pandas = pytest.importorskip("pandas")
    frame = table.to_dataframe()
    assert isinstance(frame, pandas.DataFrame)
    assert frame["score"].tolist() == [0.25, 0.5]


@pytest.mark.parametrize(
    "objective, direction, label",
    [
        ("val_mae", "min", "validation MAE, lower is better"),
        ("val_accuracy", "max", "validation accuracy, higher is better"),
        ("loss", "min", "loss, lower is better"),
        ("val_top_k_error", "min", "validation top k error, lower is better"),
        (None, "max", "objective, higher is better"),
    ],
)
def test_objective_label(objective, direction, label):
    assert tuning.objective_label(objective, direction) == label


def test_make_windows():
    series = np.arange(20.0).reshape(10, 2)
    x, y = tuning.make_windows(series, input_steps=3, horizon=2, stride=2)
    assert x.shape == (3, 3, 2) and y.shape == (3, 2, 2)
    np.testing.assert_array_equal(x[1], series[2:5])
    np.testing.assert_array_equal(y[1], series[5:7])
    np.testing.assert_array_equal(y[2], series[7:9])
    x, y = tuning.make_windows(np.arange(5.0), input_steps=4)
    assert x.shape == (1, 4, 1) and y.tolist() == [[4.0]]
    with pytest.raises(ValueError, match="horizon = 6 steps"):
        tuning.make_windows(np.arange(5.0), input_steps=4, horizon=2)
    with pytest.raises(ValueError, match="stride=0"):
        tuning.make_windows(np.arange(5.0), input_steps=2, stride=0)
    with pytest.raises(ValueError, match=r"shape \(2, 2, 2\)"):
        tuning.make_windows(np.zeros((2, 2, 2)), input_steps=1)


def test_plots_write_images(tmp_path):
    tuning.plot_scores(
        {"a": [0.9, 0.92], "b": [0.8, 0.85, 0.83]}, tmp_path / "scores.png"
    )
    # One score per group: bars with the values written, from 0 (a small
    # gap is not magnified), long names slanted, a long title wrapped.
    single = {"GRU+crf": [0.812], "GRU+softmax": [0.784]}
    single |= {f"PeepholeLSTM+head{i}": [0.8] for i in range(4)}
    title = "BIO tagging: each cell with a CRF or a softmax head, tuned"
    axes = tuning.plot_scores(single, tmp_path / "single.png", title=title)
    axes = axes.axes[0]
    written = [text.get_text() for text in axes.texts]
    assert "0.812" in written and "0.784" in written, written
    assert len(axes.patches) == 6  # the bars, no boxes
    assert axes.get_ylim()[0] == 0.0
    assert axes.get_xticklabels()[0].get_rotation() == 25
    assert axes.get_title() == title  # wide enough for one line
    two = {"GRU+crf": [0.8], "GRU+softmax": [0.7]}
    axes = tuning.plot_scores(two, tmp_path / "two.png", title=title).axes[0]
    assert "\n" in axes.get_title()  # narrow: wrapped, not cut off
    axes = tuning.plot_lines(
        np.arange(5),
        {"model": np.arange(5.0) + 1},
        tmp_path / "lines.png",
        xlabel="x",
        ylabel="y",
        truth=np.arange(5.0),
        marks={"forecast starts": [0, 3]},
    ).axes[0]
    legend = [t.get_text() for t in axes.get_legend().get_texts()]
    assert legend == ["forecast starts", "truth", "model"]
    assert sorted(line.get_xdata()[0] for line in axes.lines[:2]) == [0, 3]
    table = tuning.ResultsTable(
        [
            {"trial": 1, "score": 1.0, "cell": "GRU"},
            {"trial": 2, "score": 2.0, "cell": "LSTM"},
            {"trial": 3, "score": 0.5, "cell": "GRU"},
        ],
        ["trial", "score", "cell"],
        objective="val_mae",
    )
    assert table.best()["trial"] == 3
    axes = tuning.plot_trials(table, tmp_path / "trials.png").axes[0]
    assert axes.get_ylabel() == "validation MAE, lower is better"
    assert axes.get_title() == "3 trials by cell; best: trial 3 (0.5)"
    assert [t.get_text() for t in axes.get_xticklabels()] == ["GRU", "LSTM"]
    assert [t.get_text() for t in axes.get_legend().get_texts()] == [
        "best: trial 3"
    ]
    best_marker = axes.get_legend().legend_handles[0]
    assert best_marker.get_marker() == "*"
    for name in ("scores.png", "lines.png", "trials.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="direction='lower'"):
        tuning.ResultsTable([], ["score"], direction="lower")
    with pytest.raises(ValueError, match="no scored trials"):
        tuning.plot_trials(
            tuning.ResultsTable([], ["score"]), tmp_path / "none.png"
        )


@pytest.mark.parametrize(
    "documented",
    [
        tuning.RecurrentHyperModel,
        tuning.SequenceRegressor,
        tuning.SequenceClassifier,
        tuning.SequenceTagger,
        tuning.Seq2SeqHyperModel,
        tuning.ResultsTable,
        tuning.make_windows,
    ],
    ids=lambda x: x.__name__,
)
def test_docstring_examples_run(documented):
    assert "Args:" in documented.__doc__ or "Columns:" in documented.__doc__
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    tests = finder.find(documented, globs={"np": np, "keras": keras})
    assert sum(len(test.examples) for test in tests) > 0
    for test in tests:
        runner.run(test)
    assert runner.failures == 0
