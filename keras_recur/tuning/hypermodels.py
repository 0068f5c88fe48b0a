"""keras-tuner hypermodels that search over the recurrent cells."""

import contextlib
import numbers
import time
import warnings

import keras
import keras_tuner

import keras_recur
from keras_recur import catalogue
from keras_recur import tag_schemes
from keras_recur.tuning.search_space import Range
from keras_recur.tuning.search_space import check_spec
from keras_recur.tuning.search_space import declare
from keras_recur.validation import check_bool
from keras_recur.validation import check_non_negative_float
from keras_recur.validation import check_one_of
from keras_recur.validation import check_positive_int
from keras_recur.validation import check_seed

# cell name -> (sequence layer, cell), from the catalogue of cells
# (keras_recur.catalogue); "LSTM" is Keras' own, the baseline.
CELLS = {
    name: (record.layer, record.cell)
    for name, record in catalogue.CELLS.items()
}
LEARNING_RATES = Range(1e-4, 1e-2, sampling="log")


def _check_cell(argument, value):
    if value not in CELLS:
        raise ValueError(
            f"`{argument}` must name cells among {sorted(CELLS)}. "
            f"Received: {argument}={value!r}"
        )
    return value


def _check_clipnorm(argument, value):
    check_non_negative_float(argument, value, zero_means="no clipping")
    return float(value)


def _check_learning_rate(argument, value):
    if (
        not isinstance(value, numbers.Real)
        or isinstance(value, bool)
        or not 0 < value < 1
    ):
        raise ValueError(
            f"`{argument}` must be a number in (0, 1). "
            f"Received: {argument}={value!r}"
        )
    return float(value)


class ElapsedTime(keras.callbacks.Callback):
    """Adds `fit_seconds`, the wall time since training began, to the
    epoch logs, so that the tuner records each trial's time with its
    metrics (on a distributed worker too) and `ResultsTable` shows it. The
    hypermodels here add it to every fit; a hypermodel of your own adds it
    to its `fit`'s callbacks.

    Example:

    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> history = model.fit(
    ...     np.ones((4, 2)), np.ones((4, 1)), epochs=2, verbose=0,
    ...     callbacks=[keras_recur.tuning.ElapsedTime()],
    ... )
    >>> len(history.history["fit_seconds"])
    2
    """

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["fit_seconds"] = time.perf_counter() - self.start


class RecurrentHyperModel(keras_tuner.HyperModel):
    """Base of the hypermodels: the recurrent part of the search space.

    Each searchable argument is a fixed value, a list of choices, or a
    `keras_recur.tuning.Range` (see `keras_recur.tuning.search_space`). The
    hyperparameters have the arguments' names. A cell's own hyperparameters
    (its record in `keras_recur.catalogue`) exist only in its trials
    (keras-tuner conditions them on `cell`): `use_peepholes` in
    `CoupledLSTM` trials, `spectral_radius`, `leaky` and `connectivity` in
    `EchoStateNetwork` trials, `log_space` in `MinGRU` and `MinLSTM`
    trials, `state_dim` and `r_min` in `LRU` trials; `cell_space` narrows or
    widens them. `dropout` exists in the trials of every cell whose weights
    train (not `EchoStateNetwork`, a fixed reservoir), and
    `recurrent_dropout` in those of the cells with a recurrent kernel (not
    `MinGRU`, `MinLSTM` and `LRU`, linear in their state).

    Args:
        cell: Cell names among `"PeepholeLSTM"`, `"CoupledLSTM"`, `"GRU"`,
            `"LayerNormLSTM"`, `"EchoStateNetwork"`, `"MinGRU"`,
            `"MinLSTM"`, `"LRU"`, `"ClockworkRNN"`, `"DepthGatedLSTM"`,
            `"GridLSTM"` and `"LSTM"` (`keras.layers.LSTM`, the baseline): the
            catalogue's cells.
        use_peepholes: Deprecated: `cell_space={"CoupledLSTM":
            {"use_peepholes": ...}}`.
        spectral_radius: Deprecated: `cell_space={"EchoStateNetwork":
            {"spectral_radius": ...}}`.
        leaky: Deprecated: `cell_space={"EchoStateNetwork": {"leaky":
            ...}}`.
        connectivity: Deprecated: `cell_space={"EchoStateNetwork":
            {"connectivity": ...}}`.
        units: Units of each recurrent layer.
        depth: Number of stacked recurrent layers.
        bidirectional: Whether each recurrent layer reads both ways.
        dropout: Input dropout of each recurrent layer (trained cells).
        recurrent_dropout: Recurrent dropout of each recurrent layer
            (cells with a recurrent kernel).
        log_space: Deprecated: `cell_space={"MinGRU": {"log_space": ...},
            "MinLSTM": {"log_space": ...}}`.
        state_dim: Deprecated: `cell_space={"LRU": {"state_dim": ...}}`.
        r_min: Deprecated: `cell_space={"LRU": {"r_min": ...}}`.
        learning_rate: Adam's learning rate.
        clipnorm: Adam's gradient clipping by norm (Keras' `clipnorm`,
            Pascanu et al. 2013); 0 for none.
        seed: If set, `build` calls `keras.utils.set_random_seed(seed)`
            first, so that every trial starts from the same random state.
        distribution: Optional `keras.distribution` distribution (JAX), for
            example `keras.distribution.DataParallel()`: every trial's model
            is built and trained inside its scope. (A distribution set
            globally would not reach the trials: keras-tuner clears the
            Keras session before each one.)
        name: The hypermodel's name.
        tunable: Whether its hyperparameters are searched (keras-tuner).
        cell_space: The search space of the cells' own hyperparameters: a
            dict from cell name to a dict from hyperparameter to its space
            (a value, a list of choices or a `Range`), for example
            `{"LRU": {"state_dim": [64, 128], "r_min": 0.9}}`; what it
            leaves out keeps the catalogue's default space. Cells that share
            a hyperparameter (`log_space`) share one space. Default: `None`
            (the catalogue's defaults: `use_peepholes` `[False, True]`,
            `spectral_radius` `[0.9, 0.5, 1.1]`, `leaky` `[1.0, 0.5,
            0.2]`, `connectivity` `0.1`, `log_space` `False`, `state_dim`
            `[64, 128]`, `r_min` `[0.0, 0.5, 0.9]`).

    A subclass defines `build_model(hp)`, usually around
    `recurrent_stack(hp, inputs)`, and the `loss` and `metrics` that
    `build` compiles with.

    Example:

    >>> import keras
    >>> import keras_tuner
    >>> from keras_recur import tuning
    >>> class Scorer(tuning.RecurrentHyperModel):
    ...     loss, metrics = "mse", ()
    ...     def build_model(self, hp):
    ...         inputs = keras.Input((None, 4))
    ...         features = self.recurrent_stack(hp, inputs)
    ...         return keras.Model(inputs, keras.layers.Dense(1)(features))
    >>> hp = keras_tuner.HyperParameters()
    >>> model = Scorer(cell="GRU", units=8, depth=1).build(hp)
    >>> model.output_shape, hp.values["units"]
    ((None, 1), 8)
    """

    def __init__(
        self,
        cell=tuple(CELLS),
        use_peepholes=None,
        spectral_radius=None,
        leaky=None,
        connectivity=None,
        units=(16, 32, 64, 128),
        depth=(1, 2),
        bidirectional=(False, True),
        dropout=(0.0, 0.1, 0.2, 0.3),
        recurrent_dropout=(0.0, 0.1, 0.2),
        log_space=None,
        state_dim=None,
        r_min=None,
        learning_rate=LEARNING_RATES,
        clipnorm=0.0,
        seed=None,
        distribution=None,
        name=None,
        tunable=True,
        *,
        cell_space=None,
    ):
        super().__init__(name=name, tunable=tunable)
        self.space, self.checks = {}, {}
        self.searchable("cell", cell, _check_cell)
        self.searchable("units", units, catalogue.positive_int)
        self.searchable("depth", depth, catalogue.positive_int)
        self.searchable("bidirectional", bidirectional, catalogue.flag)
        self.searchable("dropout", dropout, catalogue.rate)
        self.searchable("recurrent_dropout", recurrent_dropout, catalogue.rate)
        self.searchable("learning_rate", learning_rate, _check_learning_rate)
        self.searchable("clipnorm", clipnorm, _check_clipnorm)
        deprecated = dict(
            use_peepholes=use_peepholes,
            spectral_radius=spectral_radius,
            leaky=leaky,
            connectivity=connectivity,
            log_space=log_space,
            state_dim=state_dim,
            r_min=r_min,
        )
        # hyperparameter -> the cells that have it, in the catalogue's order.
        self.cell_hyperparameters = catalogue.hyperparameter_cells()
        self.cell_space = _cell_space(
            cell_space, deprecated, self.cell_hyperparameters
        )
        for argument, cells in self.cell_hyperparameters.items():
            self._searchable_for_cells(argument, cells)
        if seed is not None:
            check_seed(seed)
        # keras.distribution exports no common base class to check against.
        if distribution is not None and not callable(
            getattr(distribution, "scope", None)
        ):
            raise TypeError(
                "`distribution` must be a keras.distribution distribution "
                f"(with a scope()) or None. Received: distribution="
                f"{distribution!r}"
            )
        self.seed = seed
        self.distribution = distribution

    def _searchable_for_cells(self, argument, cells):
        """Makes the space of a cell hyperparameter: the one `cell_space`
        gives (or the catalogue's default) for every cell that has it."""
        spaces = {}
        for cell in cells:
            hyperparameter = catalogue.CELLS[cell].hyperparameters[argument]
            spec = self.cell_space.get(cell, {}).get(
                argument, hyperparameter.space
            )
            spaces[cell] = check_spec(argument, spec, hyperparameter.check)
        if len(set(spaces.values())) > 1:
            raise ValueError(
                f"`cell_space` gives `{argument}` different spaces for "
                f"{' and '.join(spaces)}, which share that hyperparameter: "
                f"give it one. Received: {spaces}"
            )
        self.searchable(argument, spaces[cells[0]], hyperparameter.check)

    def searchable(self, name, spec, check):
        """Makes `spec` (a value, a list of values or a `Range`, checked
        value by value with `check(name, value)`) the search space of the
        hyperparameter `name`."""
        self.space[name] = check_spec(name, spec, check)
        self.checks[name] = check

    def value(self, hp, name):
        """Declares the hyperparameter `name` in `hp` and returns its value,
        checked as the argument is: `hp` may hold the tuner's own definition
        (`hyperparameters=`, `hp.Fixed`), which no argument check saw."""
        return self.checks[name](name, declare(hp, name, self.space[name]))

    def cell_choice(self, hp):
        """The trial's cell name and its cell-specific layer arguments."""
        cell = self.value(hp, "cell")
        extra = {}
        for name, cells in self.cell_hyperparameters.items():
            extra.update(self.conditional_values(hp, "cell", cells, [name]))
        return cell, extra

    def conditional_values(self, hp, parent, values, names):
        """The hyperparameters `names`, declared on the condition that the
        hyperparameter `parent` is one of `values`: their values in those
        trials, else {}."""
        with hp.conditional_scope(parent, list(values)):
            if hp.get(parent) in values:
                return {name: self.value(hp, name) for name in names}
        return {}

    def recurrent_stack(self, hp, inputs, return_sequences=False):
        """Applies `depth` recurrent layers (bidirectional or not) to a
        tensor of shape (batch, steps, features)."""
        cell, extra = self.cell_choice(hp)
        layer_class = CELLS[cell][0]
        arguments = dict(
            units=self.value(hp, "units"),
            **self.conditional_values(
                hp, "cell", catalogue.cells(trained=True), ["dropout"]
            ),
            **self.conditional_values(
                hp,
                "cell",
                catalogue.cells(trained=True, recurrent_kernel=True),
                ["recurrent_dropout"],
            ),
            **extra,
        )
        depth = self.value(hp, "depth")
        bidirectional = self.value(hp, "bidirectional")
        x = inputs
        for index in range(depth):
            layer = layer_class(
                return_sequences=return_sequences or index < depth - 1,
                **arguments,
            )
            if bidirectional:
                layer = keras.layers.Bidirectional(layer)
            x = layer(x)
        return x

    def build(self, hp):
        """The trial's model from `build_model`, compiled with Adam and the
        subclass's `loss` and `metrics`."""
        if self.seed is not None:
            keras.utils.set_random_seed(self.seed)
        with self._scope():
            model = self.build_model(hp)
            # Gradient clipping by norm (Pascanu et al. 2013), 0 for none.
            clipnorm = self.value(hp, "clipnorm") or None
            model.compile(
                keras.optimizers.Adam(
                    self.value(hp, "learning_rate"), clipnorm=clipnorm
                ),
                loss=self.loss,
                metrics=list(self.metrics),
            )
            if not model.built:
                model.build(self.input_shapes())
            # keras-tuner's trial checkpoints hold the optimizer's variables:
            # with the optimizer built, get_best_models restores them rather
            # than warning that it skips them.
            model.optimizer.build(model.trainable_variables)
        return model

    def input_shapes(self):
        """The input shapes `build` builds the model with where
        `build_model` returns an unbuilt (subclassed) model."""
        raise NotImplementedError(
            f"{type(self).__name__}.build_model returned an unbuilt model: "
            "define input_shapes() to give its input shapes."
        )

    def build_model(self, hp):
        """The uncompiled model of a trial; subclasses define it."""
        raise NotImplementedError

    def fit(self, hp, model, *args, **kwargs):
        """`model.fit`, recording each epoch's elapsed time as
        `fit_seconds` next to the metrics."""
        callbacks = [ElapsedTime(), *(kwargs.pop("callbacks", None) or [])]
        with self._scope():
            return model.fit(*args, callbacks=callbacks, **kwargs)

    def _scope(self):
        if self.distribution is None:
            return contextlib.nullcontext()
        return self.distribution.scope()


def _cell_space(cell_space, deprecated, hyperparameter_cells):
    """`cell_space` checked (cells and their hyperparameters by name), with
    the deprecated per-family arguments mapped onto it, each with a
    DeprecationWarning, for the cells `hyperparameter_cells` gives it."""
    if cell_space is None:
        cell_space = {}
    if not isinstance(cell_space, dict):
        raise TypeError(
            "`cell_space` must be a dict from cell name to a dict of its "
            f"hyperparameters' spaces, or None. Received: cell_space="
            f"{cell_space!r}"
        )
    checked = {}
    for cell, space in cell_space.items():
        if cell not in catalogue.CELLS:
            raise ValueError(
                f"`cell_space` names a cell that is not among {list(CELLS)}."
                f" Received: cell_space key {cell!r}"
            )
        own = catalogue.CELLS[cell].hyperparameters
        if not isinstance(space, dict) or set(space) - set(own):
            raise ValueError(
                f"`cell_space[{cell!r}]` must be a dict of {cell}'s own "
                f"hyperparameters, {sorted(own)}. Received: {space!r}"
            )
        checked[cell] = dict(space)
    for argument, spec in deprecated.items():
        if spec is None:
            continue
        cells = hyperparameter_cells[argument]
        mapped = {cell: {argument: spec} for cell in cells}
        warnings.warn(
            f"`{argument}` is deprecated: pass it in `cell_space`, "
            f"cell_space={mapped!r}.",
            DeprecationWarning,
            stacklevel=4,
        )
        for cell in cells:
            if argument in checked.get(cell, {}):
                raise ValueError(
                    f"`{argument}` is given twice: as an argument and in "
                    f"`cell_space[{cell!r}]`. Give it in `cell_space` only."
                )
            checked.setdefault(cell, {})[argument] = spec
    return checked


def _check_input_shape(input_shape):
    if (
        not isinstance(input_shape, (tuple, list))
        or len(input_shape) != 2
        or not (input_shape[0] is None or isinstance(input_shape[0], int))
        or not isinstance(input_shape[1], int)
        or input_shape[1] <= 0
    ):
        raise ValueError(
            "`input_shape` must be (steps, features), steps an int or None. "
            f"Received: input_shape={input_shape!r}"
        )
    return tuple(input_shape)


class _SequenceModel(RecurrentHyperModel):
    """The recurrent stack on (batch, steps, features) inputs, then the
    subclass's `head()` layer on its last output, or on every step's output
    with `return_sequences`."""

    def __init__(
        self, input_shape, return_sequences=False, mask_value=None, **kwargs
    ):
        super().__init__(**kwargs)
        self.input_shape = _check_input_shape(input_shape)
        check_bool("return_sequences", return_sequences)
        if mask_value is not None and (
            isinstance(mask_value, bool)
            or not isinstance(mask_value, numbers.Real)
        ):
            raise ValueError(
                "`mask_value` must be a number or None. "
                f"Received: mask_value={mask_value!r}"
            )
        self.return_sequences = return_sequences
        self.mask_value = mask_value

    def build_model(self, hp):
        inputs = keras.Input(self.input_shape)
        x = inputs
        if self.mask_value is not None:
            # Padding steps (every feature equal to mask_value) are skipped.
            x = keras.layers.Masking(self.mask_value)(x)
        encoded = self.recurrent_stack(
            hp, x, return_sequences=self.return_sequences
        )
        # Dense acts on the last axis, so on 3D inputs it is per step.
        return keras.Model(inputs, self.head()(encoded))


class SequenceRegressor(_SequenceModel):
    """Searches recurrent regressors: sequences (batch, steps, features) to
    `outputs` numbers, or to `outputs` numbers at every step, trained with
    mean squared error (metric: mean absolute error). The tuner's objective
    is usually `"val_loss"`.

    Args:
        input_shape: `(steps, features)`; steps may be None.
        outputs: Number of outputs (a forecasting horizon, for example).
        return_sequences: Whether the model outputs `outputs` numbers at
            every step, shape (batch, steps, outputs), instead of once
            after the last step.
        mask_value: Padding value: steps whose features all equal it are
            masked (`keras.layers.Masking`), for sequences of different
            lengths padded to one. Default: `None` (no mask).
        **kwargs: The search space and other arguments of
            `RecurrentHyperModel`.

    Example:

    >>> import keras_tuner
    >>> from keras_recur import tuning
    >>> hypermodel = tuning.SequenceRegressor(
    ...     (12, 1), outputs=3, cell=["GRU", "CoupledLSTM"], depth=1
    ... )
    >>> hp = keras_tuner.HyperParameters()
    >>> hp.Fixed("cell", "GRU")
    'GRU'
    >>> model = hypermodel.build(hp)
    >>> "use_peepholes" in hp.values, model.output_shape
    (False, (None, 3))
    """

    loss = "mse"
    metrics = ("mae",)

    def __init__(
        self,
        input_shape,
        outputs=1,
        return_sequences=False,
        mask_value=None,
        **kwargs,
    ):
        super().__init__(input_shape, return_sequences, mask_value, **kwargs)
        check_positive_int("outputs", outputs)
        self.outputs = outputs

    def head(self):
        return keras.layers.Dense(self.outputs)


class SequenceClassifier(_SequenceModel):
    """Searches recurrent classifiers: sequences (batch, steps, features) to
    one of `num_classes` classes, or to a class at every step (tagging),
    labels as integers, trained with sparse categorical cross-entropy
    (metric: accuracy). The tuner's objective is usually `"val_accuracy"`.

    Args:
        input_shape: `(steps, features)`; steps may be None.
        num_classes: Number of classes (at least 2).
        return_sequences: Whether the model classifies every step, output
            shape (batch, steps, num_classes), with labels (batch, steps).
        mask_value: Padding value: steps whose features all equal it are
            masked (`keras.layers.Masking`), for sequences of different
            lengths padded to one. Default: `None` (no mask).
        **kwargs: The search space and other arguments of
            `RecurrentHyperModel`.

    Example:

    >>> import keras_tuner
    >>> from keras_recur import tuning
    >>> hypermodel = tuning.SequenceClassifier(
    ...     (8, 8), num_classes=10, cell="CoupledLSTM", units=[16, 32]
    ... )
    >>> tuner = keras_tuner.RandomSearch(
    ...     hypermodel, objective="val_accuracy", max_trials=4,
    ...     directory=None, project_name="digits",
    ... )
    >>> names = {p.name for p in tuner.oracle.get_space().space}
    >>> "use_peepholes" in names, "units" in names
    (True, True)
    """

    loss = "sparse_categorical_crossentropy"
    metrics = ("accuracy",)

    def __init__(
        self,
        input_shape,
        num_classes,
        return_sequences=False,
        mask_value=None,
        **kwargs,
    ):
        super().__init__(input_shape, return_sequences, mask_value, **kwargs)
        check_positive_int("num_classes", num_classes)
        if num_classes < 2:
            raise ValueError(
                "`num_classes` must be at least 2. "
                f"Received: num_classes={num_classes}"
            )
        self.num_classes = num_classes

    def head(self):
        return keras.layers.Dense(self.num_classes, activation="softmax")


class Seq2SeqHyperModel(RecurrentHyperModel):
    """Searches `keras_recur.Seq2Seq` models with Bahdanau or Luong
    attention.

    The encoder is the recurrent stack of `RecurrentHyperModel` (with
    `return_sequences`); the decoder is an `AttentionDecoder` around a cell
    of the same kind and `units`, with the trial's `attention` mechanism:
    `"bahdanau"` (`BahdanauAttention`, with its own hyperparameters
    `attention_units` and `normalize`) or `"luong"` (`LuongAttention`, whose
    size is the decoder's, with `scale` and the decoder's `input_feeding`);
    each mechanism's hyperparameters exist only in its trials. Token 0 pads
    (embeddings with `mask_zero=True`). Trained on
    `(source, target_in) -> target_out` with sparse categorical
    cross-entropy from logits (metric: per-token accuracy, padding
    included).

    Args:
        source_vocabulary: Size of the source vocabulary.
        target_vocabulary: Size of the target vocabulary.
        embedding_dim: Size of both embeddings.
        attention: Searchable: `"bahdanau"` and/or `"luong"`.
        attention_units: Searchable, Bahdanau trials: units of
            `BahdanauAttention`.
        normalize: Searchable, Bahdanau trials: its weight normalisation.
        scale: Searchable, Luong trials: `LuongAttention`'s learned scale.
        input_feeding: Searchable, Luong trials: the decoder feeds its
            attentional vector to the next step.
        **kwargs: The search space and other arguments of
            `RecurrentHyperModel`.

    Example:

    >>> import keras_tuner
    >>> from keras_recur import tuning
    >>> hypermodel = tuning.Seq2SeqHyperModel(
    ...     20, 14, cell="GRU", units=16, depth=1, attention_units=[8, 16]
    ... )
    >>> model = hypermodel.build(keras_tuner.HyperParameters())
    >>> type(model).__name__
    'Seq2Seq'
    """

    def __init__(
        self,
        source_vocabulary,
        target_vocabulary,
        embedding_dim=32,
        attention=("bahdanau", "luong"),
        attention_units=(16, 32, 64, 128),
        normalize=(False, True),
        scale=(False, True),
        input_feeding=(True, False),
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("source_vocabulary", source_vocabulary)
        check_positive_int("target_vocabulary", target_vocabulary)
        check_positive_int("embedding_dim", embedding_dim)
        self.source_vocabulary = source_vocabulary
        self.target_vocabulary = target_vocabulary
        self.embedding_dim = embedding_dim
        self.searchable("attention", attention, _one_of("bahdanau", "luong"))
        self.searchable(
            "attention_units", attention_units, catalogue.positive_int
        )
        self.searchable("normalize", normalize, catalogue.flag)
        self.searchable("scale", scale, catalogue.flag)
        self.searchable("input_feeding", input_feeding, catalogue.flag)

    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    metrics = ("accuracy",)

    def input_shapes(self):
        return ((None, None), (None, None))  # source, target_in tokens

    def build_model(self, hp):
        source_embedding = keras.layers.Embedding(
            self.source_vocabulary, self.embedding_dim, mask_zero=True
        )
        # The encoder as a model of its own, so that it can be deep.
        embedded = keras.Input((None, self.embedding_dim))
        memory = self.recurrent_stack(hp, embedded, return_sequences=True)
        encoder = keras.Model(embedded, memory, name="encoder")
        cell, extra = self.cell_choice(hp)
        mechanism = self.value(hp, "attention")
        bahdanau = self.conditional_values(
            hp, "attention", ["bahdanau"], ["attention_units", "normalize"]
        )
        luong = self.conditional_values(
            hp, "attention", ["luong"], ["scale", "input_feeding"]
        )
        cell = CELLS[cell][1](self.value(hp, "units"), **extra)
        if mechanism == "bahdanau":
            decoder = keras_recur.AttentionDecoder(
                cell,
                keras_recur.BahdanauAttention(
                    bahdanau["attention_units"],
                    normalize=bahdanau["normalize"],
                ),
            )
        else:
            decoder = keras_recur.AttentionDecoder(
                cell,
                keras_recur.LuongAttention(scale=luong["scale"]),
                input_feeding=luong["input_feeding"],
            )
        return keras_recur.Seq2Seq(
            source_embedding,
            encoder,
            keras.layers.Embedding(
                self.target_vocabulary, self.embedding_dim, mask_zero=True
            ),
            decoder,
            keras.layers.Dense(self.target_vocabulary),
        )


def _one_of(*choices):
    """A spec value check: one of `choices`."""

    def check(argument, value):
        check_one_of(argument, value, choices)
        return value

    return check


class SequenceTagger(RecurrentHyperModel):
    """Searches taggers (`keras_recur.models.Tagger`): token ids
    (batch, steps), 0 for padding, to a tag per token. An embedding, the
    recurrent stack of `RecurrentHyperModel` over every step, a `Dense`
    scoring the tags, then a CRF or a per-step softmax (`head`, searchable).
    A CRF may be held to the tagging scheme's transitions
    (`scheme_constraints`, searchable in CRF trials:
    `keras_recur.layers.allowed_transitions(scheme, tag_names)`), so that
    under BIO it never decodes an `I-X` after anything but `B-X` or `I-X`.

    Each trial is scored by token accuracy over unmasked tokens
    (`token_accuracy`) and labelled-span F1 under the scheme (`span_f1`,
    `keras_recur.metrics.SpanF1`): both read the decoded tags, so CRF and
    softmax trials compare. Search on
    `keras_tuner.Objective("val_span_f1", "max")`. The loss is each
    sequence's negative log-likelihood (CRF or softmax), so `val_loss`
    does not compare across heads.

    Args:
        vocabulary_size: Number of token ids, padding (0) included.
        tag_names: The name of each tag id under `scheme` (`"O"`,
            `"B-PER"`, ...), each once.
        embedding_dim: Size of the token embedding.
        head: `"crf"` and/or `"softmax"`. Default: both.
        scheme_constraints: `True` and/or `False`: whether the CRF allows
            only the scheme's transitions. Default: both.
        scheme: The tagging scheme of `tag_names`: `"BIO"` (IOB2),
            `"IOB1"`, `"BIOUL"`, `"BIOES"` or `"BMES"`; it sets the CRF's
            constraints and the spans `span_f1` scores. Default: `"BIO"`.
        bio_constraints: Deprecated: `scheme_constraints`, from when BIO was
            the only scheme. Default: `None`.
        **kwargs: The search space and other arguments of
            `RecurrentHyperModel`.

    Example:

    >>> import keras_tuner
    >>> from keras_recur import tuning
    >>> hypermodel = tuning.SequenceTagger(
    ...     100, ["O", "B-PER", "I-PER"], cell="GRU", units=16, depth=1
    ... )
    >>> hp = keras_tuner.HyperParameters()
    >>> tagger = hypermodel.build(hp)
    >>> type(tagger).__name__, hp.values["head"], hp.values["embedding_dim"]
    ('Tagger', 'crf', 16)
    >>> hp.values["scheme_constraints"], tagger.crf.allowed_transitions[:3]
    (True, [(0, 0), (0, 1), (0, 4)])
    """

    loss = None

    def __init__(
        self,
        vocabulary_size,
        tag_names,
        embedding_dim=(16, 32, 64),
        head=("crf", "softmax"),
        scheme_constraints=(True, False),
        scheme="BIO",
        bio_constraints=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_positive_int("vocabulary_size", vocabulary_size)
        self.vocabulary_size = int(vocabulary_size)
        self.tag_names = tag_schemes.check_tag_names(scheme, tag_names)
        self.scheme = scheme
        if bio_constraints is not None:
            if scheme_constraints != (True, False):
                raise ValueError(
                    "`bio_constraints` is the deprecated name of "
                    "`scheme_constraints`: give one of them. Received: "
                    f"bio_constraints={bio_constraints!r} and "
                    f"scheme_constraints={scheme_constraints!r}"
                )
            warnings.warn(
                "`bio_constraints` is deprecated: pass scheme_constraints="
                f"{bio_constraints!r} (the constraints follow `scheme`).",
                DeprecationWarning,
                stacklevel=2,
            )
            scheme_constraints = bio_constraints
        self.searchable("embedding_dim", embedding_dim, catalogue.positive_int)
        self.searchable("head", head, _one_of("crf", "softmax"))
        self.searchable(
            "scheme_constraints", scheme_constraints, catalogue.flag
        )

    @property
    def metrics(self):
        return (
            keras.metrics.Accuracy(name="token_accuracy"),
            keras_recur.metrics.SpanF1(self.tag_names, self.scheme),
        )

    def build_model(self, hp):
        tokens = keras.Input((None,), dtype="int32")
        embedded = keras.layers.Embedding(
            self.vocabulary_size,
            self.value(hp, "embedding_dim"),
            mask_zero=True,
        )(tokens)
        encoded = self.recurrent_stack(hp, embedded, return_sequences=True)
        num_tags = len(self.tag_names)
        scores = keras.layers.Dense(num_tags)(encoded)
        crf = None
        if self.value(hp, "head") == "crf":
            constrained = self.conditional_values(
                hp, "head", ["crf"], ["scheme_constraints"]
            )["scheme_constraints"]
            allowed = None
            if constrained:
                allowed = tag_schemes.allowed_transitions(
                    self.scheme, self.tag_names
                )
            crf = keras_recur.layers.CRF(num_tags, allowed_transitions=allowed)
        return keras_recur.models.Tagger(keras.Model(tokens, scores), crf=crf)

    def input_shapes(self):
        return (None, None)
