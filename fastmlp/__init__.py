"""fastmlp: multilayer perceptrons trained by Numba-compiled, parallel kernels on the CPU."""

from . import _compile  # noqa: F401  (chooses the threading layer before any kernel exists)
from ._persist import load, save
from ._settings import TrainingSettings
from ._version import __version__
from .checkpoint import DivergenceError
from .model import MLP
from .perceptron import Perceptron

__all__ = ["MLP", "DivergenceError", "Perceptron", "TrainingSettings", "load", "save", "__version__"]
