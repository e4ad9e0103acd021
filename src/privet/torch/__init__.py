"""privet.torch: differentially private training of PyTorch models (DP-SGD).

:func:`make_private` turns a model, an optimizer and a dataset into a DP-SGD run (Abadi et
al. 2016): true Poisson sampling (:mod:`~privet.torch.sampling`), per-example clipping in one
backward pass (ghost norms and book-keeping for Linear, Conv1d/2d, Embedding and LayerNorm,
``torch.func`` for any other per-example layer: :mod:`~privet.torch.clipper`), Gaussian
noise from the CSPRNG and PLD accounting (:class:`DPOptimizer`), budget charges before any
noise, virtual steps for large batches, and checkpoints that keep the privacy spent.

Examples
--------
>>> import torch
>>> from torch.utils.data import TensorDataset
>>> from privet.torch import make_private, mlp
>>> model = mlp(4, 2, hidden=(8,))
>>> data = TensorDataset(torch.randn(256, 4), torch.randint(0, 2, (256,)))
>>> model, opt, loader = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1),
...     data, noise_multiplier=1.0, max_grad_norm=1.0, batch_size=32)
>>> for x, y in loader:
...     opt.zero_grad()
...     torch.nn.functional.cross_entropy(model(x), y).backward()
...     opt.step()
>>> opt.steps
8
"""

from privet.torch.checkpoint import load_checkpoint, save_checkpoint
from privet.torch.clipper import PerSampleClipper
from privet.torch.engine import make_private, make_private_with_epsilon
from privet.torch.grad_sample import per_sample_gradients
from privet.torch.layers import GHOST_LAYERS, check_module, plan_layers
from privet.torch.optimizer import DPOptimizer
from privet.torch.sampling import DPDataLoader, PoissonSampler
from privet.torch.trainer import EpochReport, StepReport, TrainResult, train_classifier
from privet.torch.zoo import MODELS, logistic_regression, make_model, mlp

__all__ = [
    "GHOST_LAYERS",
    "MODELS",
    "DPDataLoader",
    "DPOptimizer",
    "EpochReport",
    "PerSampleClipper",
    "PoissonSampler",
    "StepReport",
    "TrainResult",
    "check_module",
    "load_checkpoint",
    "logistic_regression",
    "make_model",
    "make_private",
    "make_private_with_epsilon",
    "mlp",
    "per_sample_gradients",
    "plan_layers",
    "save_checkpoint",
    "train_classifier",
]
