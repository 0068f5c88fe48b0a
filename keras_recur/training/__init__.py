"""Training methods for recurrent networks beyond a first-order optimiser
alone: each wraps a Keras model as a `keras.Model` whose `fit` trains it.

- `trainer.py`: `ModelTrainer`, what they share (the wrapped model, the
  train step on every backend, metrics, config).
- `hessian_free.py`: `HessianFree`, Hessian-free optimisation with
  structural damping, and its parts (`conjugate_gradient`,
  `adjusted_damping`).
- `vanishing_gradient.py`: `VanishingGradientRegularization`, Pascanu et
  al.'s regulariser added to any optimiser's gradient.
"""

from keras_recur.training.hessian_free import HessianFree
from keras_recur.training.hessian_free import adjusted_damping
from keras_recur.training.hessian_free import conjugate_gradient
from keras_recur.training.trainer import ModelTrainer
from keras_recur.training.vanishing_gradient import (
    VanishingGradientRegularization,
)

__all__ = [
    "HessianFree",
    "ModelTrainer",
    "VanishingGradientRegularization",
    "adjusted_damping",
    "conjugate_gradient",
]
