"""Training methods for recurrent networks beyond first-order optimisers.

- `hessian_free.py`: `HessianFree`, a Keras model trained by Hessian-free
  optimisation with structural damping, and its parts
  (`conjugate_gradient`, `adjusted_damping`).
"""

from keras_recur.training.hessian_free import HessianFree
from keras_recur.training.hessian_free import adjusted_damping
from keras_recur.training.hessian_free import conjugate_gradient

__all__ = ["HessianFree", "adjusted_damping", "conjugate_gradient"]
