"""A small model zoo for tabular classification: logistic regression and an MLP.

Both are plain ``nn.Sequential`` models of ``nn.Linear`` layers (ghost clipping applies to
every layer), batch-first, returning logits for ``nn.CrossEntropyLoss``.

Examples
--------
>>> import torch
>>> model = make_model("mlp", in_features=91, n_classes=2, seed=0)
>>> model
Sequential(
  (0): Linear(in_features=91, out_features=128, bias=True)
  (1): ReLU()
  (2): Linear(in_features=128, out_features=64, bias=True)
  (3): ReLU()
  (4): Linear(in_features=64, out_features=2, bias=True)
)
>>> model(torch.zeros(5, 91)).shape
torch.Size([5, 2])
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Final

import torch
from torch import nn

from privet.core.checks import check_int
from privet.core.errors import ParameterError

__all__ = ["MODELS", "logistic_regression", "make_model", "mlp"]

MODELS: Final = ("logistic", "mlp")
"""The names :func:`make_model` accepts."""


def logistic_regression(in_features: int, n_classes: int = 2) -> nn.Sequential:
    """Return multinomial logistic regression: one ``nn.Linear(in_features, n_classes)``.

    Parameters
    ----------
    in_features : int
        Number of input features.
    n_classes : int, default 2
        Number of classes (logits out).

    Returns
    -------
    torch.nn.Sequential
        The model.
    """
    d = check_int(in_features, name="in_features", minimum=1)
    k = check_int(n_classes, name="n_classes", minimum=2)
    return nn.Sequential(nn.Linear(d, k))


def mlp(in_features: int, n_classes: int = 2, hidden: Sequence[int] = (128, 64)) -> nn.Sequential:
    """Return a ReLU multilayer perceptron ``in → hidden… → n_classes``.

    Parameters
    ----------
    in_features : int
        Number of input features.
    n_classes : int, default 2
        Number of classes (logits out).
    hidden : sequence of int, default (128, 64)
        Widths of the hidden layers (the W2 benchmark's 91-128-64-2 by default).

    Returns
    -------
    torch.nn.Sequential
        The model.
    """
    widths = [check_int(in_features, name="in_features", minimum=1)]
    widths += [check_int(h, name="hidden width", minimum=1) for h in hidden]
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(widths):
        layers += [nn.Linear(a, b), nn.ReLU()]
    layers.append(nn.Linear(widths[-1], check_int(n_classes, name="n_classes", minimum=2)))
    return nn.Sequential(*layers)


def make_model(
    name: str,
    *,
    in_features: int,
    n_classes: int = 2,
    hidden: Sequence[int] = (128, 64),
    seed: int | None = None,
) -> nn.Sequential:
    """Return a zoo model by name, initialised after ``torch.manual_seed(seed)`` if given.

    The seed only fixes the *initial* weights (public, data-independent); it has no
    bearing on the privacy of training.

    Parameters
    ----------
    name : {"logistic", "mlp"}
        Which model.
    in_features : int
        Number of input features.
    n_classes : int, default 2
        Number of classes.
    hidden : sequence of int, default (128, 64)
        Hidden widths of the MLP.
    seed : int or None, default None
        Seed for the initial weights.

    Returns
    -------
    torch.nn.Sequential
        The model.

    Raises
    ------
    ParameterError
        For an unknown name.
    """
    if name not in MODELS:
        raise ParameterError(f"model must be one of {', '.join(MODELS)}, got {name!r}")
    if seed is None:
        return _build(name, in_features, n_classes, hidden)
    with torch.random.fork_rng(devices=[]):  # leave torch's global generator as it was
        torch.manual_seed(check_int(seed, name="seed"))
        return _build(name, in_features, n_classes, hidden)


def _build(name: str, in_features: int, n_classes: int, hidden: Sequence[int]) -> nn.Sequential:
    if name == "logistic":
        return logistic_regression(in_features, n_classes)
    return mlp(in_features, n_classes, hidden)
