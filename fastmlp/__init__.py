"""fastmlp: sigmoid multilayer perceptrons trained by Numba-compiled, parallel kernels on the CPU."""

from . import _compile  # noqa: F401  (chooses the threading layer before any kernel exists)
from .checkpoint import DivergenceError
from .io import load
from .model import MLP
from .perceptron import Perceptron

__version__ = "0.1.0"
__all__ = ["MLP", "DivergenceError", "load", "Perceptron", "__version__"]
