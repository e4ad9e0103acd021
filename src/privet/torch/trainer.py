"""Train a zoo classifier on arrays with DP-SGD in one call (the CLI's and the demo's engine).

:func:`train_classifier` builds a :mod:`~privet.torch.zoo` model, makes it private with
:func:`~privet.torch.make_private` (or :func:`~privet.torch.make_private_with_epsilon`),
runs the epochs with SGD on Poisson batches, and returns the model, its test accuracy and
the ε spent (PLD accounting at ``delta``). Callbacks report each step and each epoch, so a
caller can draw a progress bar and print ε as it goes.

Examples
--------
>>> import numpy as np
>>> from privet.core.random import SecureRandom
>>> gen = np.random.default_rng(0)  # synthetic, public data for the example
>>> x = gen.normal(size=(2000, 5)).astype(np.float32)
>>> y = (x[:, 0] > 0).astype(np.int64)
>>> result = train_classifier(x, y, x_test=x, y_test=y, model="logistic", epochs=2,
...     batch_size=100, lr=0.5, noise_multiplier=2.0, rng=SecureRandom.seeded(0))
>>> result.accuracy > 0.9, round(result.epsilon, 2), result.steps
(True, 0.7, 40)
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import TensorDataset

from privet.accounting.chargeable import Chargeable
from privet.core.checks import check_delta, check_int, check_positive
from privet.core.errors import DataError, ParameterError
from privet.core.random import SecureRandom
from privet.torch.engine import make_private, make_private_with_epsilon
from privet.torch.zoo import make_model

__all__ = ["EpochReport", "StepReport", "TrainResult", "accuracy", "train_classifier"]


@dataclasses.dataclass(frozen=True)
class StepReport:
    """One logical step done: ``step`` of ``total`` (1-based), in ``epoch``."""

    epoch: int
    step: int
    total: int
    batch_size: int


@dataclasses.dataclass(frozen=True)
class EpochReport:
    """One epoch done: ε spent so far (at ``delta``), test accuracy, seconds taken.

    ``epsilon`` is None for an epoch before the last when no ``on_epoch`` callback asked
    for it (PLD accounting takes about a second).
    """

    epoch: int
    steps: int
    epsilon: float | None
    delta: float
    accuracy: float | None
    seconds: float


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What :func:`train_classifier` returns.

    Attributes
    ----------
    model : torch.nn.Module
        The trained model (eval mode).
    accuracy : float or None
        Test accuracy (None without test data).
    epsilon, delta : float
        The privacy spent: (ε, δ)-DP by PLD accounting of the steps taken.
    noise_multiplier : float
        σ used.
    steps : int
        Logical steps taken.
    history : tuple of EpochReport
        One report per epoch.
    secure : bool
        False when a seeded (predictable) generator was used: then NOT private.
    """

    model: nn.Module
    accuracy: float | None
    epsilon: float
    delta: float
    noise_multiplier: float
    steps: int
    history: tuple[EpochReport, ...]
    secure: bool


def _tensors(x: Any, y: Any, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    xt = torch.tensor(np.asarray(x, dtype=np.float32))  # a copy: the caller's array is kept
    yt = torch.tensor(np.asarray(y, dtype=np.int64))
    if xt.dim() != 2 or yt.dim() != 1 or xt.shape[0] != yt.shape[0]:
        raise DataError(
            f"{what}: features must be a 2-D array and labels a 1-D array of the same length, "
            f"got shapes {tuple(xt.shape)} and {tuple(yt.shape)}"
        )
    if xt.shape[0] == 0:
        raise DataError(f"{what}: no rows; pass at least one example")
    if not bool(torch.isfinite(xt).all()):
        raise DataError(f"{what}: the features contain NaN or infinite values; impute them first")
    if int(yt.min()) < 0:
        raise DataError(f"{what}: labels must be class indices 0, 1, …; got a negative label")
    return xt, yt


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Return the fraction of rows whose arg-max logit equals the label.

    Examples
    --------
    >>> import torch
    >>> accuracy(torch.nn.Identity(), torch.tensor([[0.0, 1.0], [1.0, 0.0]]), torch.tensor([1, 1]))
    0.5
    """
    was = model.training
    model.eval()
    with torch.no_grad():
        out = float((model(x).argmax(1) == y).float().mean())
    model.train(was)
    return out


def train_classifier(
    x_train: Any,
    y_train: Any,
    *,
    x_test: Any = None,
    y_test: Any = None,
    model: str = "mlp",
    hidden: Sequence[int] = (128, 64),
    epochs: int = 3,
    lr: float = 0.1,
    batch_size: int = 256,
    noise_multiplier: float | None = None,
    target_epsilon: float | None = None,
    delta: float = 1e-5,
    max_grad_norm: float = 1.0,
    budget: Chargeable | None = None,
    rng: SecureRandom | None = None,
    seed: int | None = 0,
    on_step: Callable[[StepReport], None] | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
) -> TrainResult:
    """Train a zoo classifier with DP-SGD (SGD, cross-entropy, Poisson batches).

    Parameters
    ----------
    x_train, y_train : array-like
        Features (n × d, finite floats) and class labels (0 … k-1).
    x_test, y_test : array-like, optional
        Held-out data for the accuracy.
    model : {"logistic", "mlp"}, default "mlp"
        The zoo model.
    hidden : sequence of int, default (128, 64)
        MLP hidden widths.
    epochs : int, default 3
        Epochs of ``round(n / batch_size)`` steps.
    lr : float, default 0.1
        SGD learning rate.
    batch_size : int, default 256
        Expected Poisson batch size.
    noise_multiplier : float, optional
        σ. Pass exactly one of ``noise_multiplier`` and ``target_epsilon``.
    target_epsilon : float, optional
        Calibrate σ so that the run costs at most this ε at ``delta``.
    delta : float, default 1e-5
        δ of the reported ε.
    max_grad_norm : float, default 1.0
        C.
    budget : Chargeable, optional
        Charged for the whole run (``epochs`` known) before training.
    rng : SecureRandom, optional
        Membership and noise; None: OS-keyed (private). Seeded: reproducible, NOT private.
    seed : int or None, default 0
        Seed of the initial weights only (public).
    on_step, on_epoch : callable, optional
        Called after each logical step / each epoch.

    Returns
    -------
    TrainResult
        The model, accuracy, (ε, δ), σ, steps and history.

    Raises
    ------
    ParameterError
        For both or neither of ``noise_multiplier`` and ``target_epsilon``, and the errors
        of :func:`~privet.torch.make_private`.
    DataError
        For malformed arrays.
    """
    xt, yt = _tensors(x_train, y_train, "training data")
    test = None
    if x_test is not None or y_test is not None:
        test = _tensors(x_test, y_test, "test data")
    if (noise_multiplier is None) == (target_epsilon is None):
        raise ParameterError(
            "pass exactly one of noise_multiplier (σ) and target_epsilon (σ is then "
            "calibrated); got " + ("both" if noise_multiplier is not None else "neither")
        )
    d = check_delta(delta)
    n_epochs = check_int(epochs, name="epochs", minimum=1)
    rate = check_positive(lr, name="lr", hint="pass a learning rate such as 0.1")
    n_classes = max(2, int(yt.max()) + 1)
    net: nn.Module = make_model(
        model, in_features=xt.shape[1], n_classes=n_classes, hidden=hidden, seed=seed
    )
    optimizer = torch.optim.SGD(net.parameters(), lr=rate)
    data = TensorDataset(xt, yt)
    common: dict[str, Any] = {
        "max_grad_norm": max_grad_norm,
        "batch_size": batch_size,
        "budget": budget,
        "rng": rng,
    }
    if target_epsilon is not None:
        net, dp_opt, loader = make_private_with_epsilon(
            net, optimizer, data, target_epsilon=target_epsilon, target_delta=d,
            epochs=n_epochs, **common,
        )  # fmt: skip
    else:
        net, dp_opt, loader = make_private(
            net, optimizer, data, noise_multiplier=float(noise_multiplier or 0.0),
            epochs=n_epochs, **common,
        )  # fmt: skip
        dp_opt.charge_delta = d
    loss_fn = nn.CrossEntropyLoss()
    history: list[EpochReport] = []
    total = n_epochs * len(loader)
    done = 0
    try:
        for epoch in range(1, n_epochs + 1):
            start = time.perf_counter()
            for xb, yb in loader:
                dp_opt.zero_grad()
                loss_fn(net(xb), yb).backward()
                dp_opt.step()
                done += 1
                if on_step is not None:
                    on_step(StepReport(epoch, done, total, int(yb.shape[0])))
            acc = accuracy(net, *test) if test is not None else None
            eps = dp_opt.epsilon(d) if on_epoch is not None or epoch == n_epochs else None
            report = EpochReport(epoch, dp_opt.steps, eps, d, acc, time.perf_counter() - start)
            history.append(report)
            if on_epoch is not None:
                on_epoch(report)
    finally:
        dp_opt.clipper.remove()
    net.eval()
    return TrainResult(
        model=net,
        accuracy=history[-1].accuracy,
        epsilon=dp_opt.epsilon(d) if history[-1].epsilon is None else history[-1].epsilon,
        delta=d,
        noise_multiplier=dp_opt.noise_multiplier,
        steps=dp_opt.steps,
        history=tuple(history),
        secure=dp_opt.is_secure,
    )
