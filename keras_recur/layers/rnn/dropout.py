"""The one place where a cell's dropout masks are drawn for a sequence."""

import contextlib


@contextlib.contextmanager
def sequence_dropout_masks(cell, step_inputs, h_prev, training):
    """Draws `cell`'s input and recurrent dropout masks for one sequence,
    before its loop, and forgets them after it.

    Every step of the sequence then reuses the same masks (Gal & Ghahramani
    2016), and the draw happens outside any traced loop, as JAX needs.
    `step_inputs` (batch, features) and `h_prev` (batch, units) give the
    masks' shapes. Serves any cell with Keras' mask methods
    (`get_dropout_mask`, `get_recurrent_dropout_mask`): the keras_recur
    cells and `keras.layers.LSTMCell`, `GRUCell`, `SimpleRNNCell`. A mask
    already drawn for this sequence (`keras.layers.RNN.call` draws them) is
    kept.
    """
    drawn = training and hasattr(cell, "get_dropout_mask")
    if drawn:
        if getattr(cell, "dropout", 0) > 0:
            cell.get_dropout_mask(step_inputs)
        if getattr(cell, "recurrent_dropout", 0) > 0:
            cell.get_recurrent_dropout_mask(h_prev)
    try:
        yield
    finally:
        if drawn:
            cell.reset_dropout_mask()
            cell.reset_recurrent_dropout_mask()
