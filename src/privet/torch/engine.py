"""``make_private``: turn a model, an optimizer and a dataset into a DP-SGD training run.

The three objects returned keep the usual PyTorch loop::

    model, optimizer, loader = make_private(model, optimizer, dataset,
        noise_multiplier=1.0, max_grad_norm=1.0, batch_size=256)
    for epoch in range(3):
        for x, y in loader:              # Poisson batches (sizes vary, may be empty)
            optimizer.zero_grad()
            loss_fn(model(x), y).backward()
            optimizer.step()             # clip per example, add N(0, σ²C²), step
        print(optimizer.epsilon(1e-5))   # PLD accounting of the steps taken

**Budget charges.** With ``budget=`` (a ``privet.store.Budget``), noise is never drawn before
it is paid for. When the number of epochs is known (``epochs=``, and always for
:func:`make_private_with_epsilon`), the whole planned run is charged as *one* event
``SelfComposedEvent(PoissonSampledEvent(q, GaussianEvent(σ)), epochs · round(1/q))`` when
the loader is first iterated, before the first batch: a run fixed in advance is one step
of the budget's filter, priced as a whole rather than as a sum of parts, and a budget that
cannot afford it refuses before any training. Without ``epochs``, each epoch is charged as
it starts (each charge is one adaptive step of the budget's filter: looser, but nothing is
paid for epochs never run).
Resuming from a checkpoint keeps the steps already paid for, so they are not charged again.

**Secure by default.** Batch membership and noise come from
:class:`~privet.core.random.SecureRandom` keyed by the OS; ``rng=SecureRandom.seeded(…)``
makes a run reproducible and *not private*, and says so.

Examples
--------
>>> import torch
>>> from torch.utils.data import TensorDataset
>>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
>>> data = TensorDataset(torch.randn(1000, 4), torch.randint(0, 2, (1000,)))
>>> model, opt, loader = make_private_with_epsilon(model, torch.optim.SGD(
...     model.parameters(), lr=0.1), data, target_epsilon=1.0, target_delta=1e-5, epochs=1,
...     max_grad_norm=1.0, batch_size=20)
>>> round(opt.noise_multiplier, 2), len(loader)
(1.05, 50)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from privet.accounting.chargeable import Chargeable
from privet.accounting.dpsgd import calibrate_noise_multiplier
from privet.core.checks import check_delta, check_epsilon, check_int, check_positive
from privet.core.checks import check_probability as _check_probability
from privet.core.errors import InsecureRandomWarning, ParameterError, ParameterTypeError
from privet.core.random import SecureRandom, resolve_rng
from privet.torch.clipper import LOSS_REDUCTIONS, PerSampleClipper
from privet.torch.optimizer import DPOptimizer
from privet.torch.sampling import DPDataLoader, dataset_size, steps_per_epoch

__all__ = ["make_private", "make_private_with_epsilon"]


def _dataset(data: object) -> Dataset[Any]:
    if isinstance(data, DataLoader):
        data = data.dataset  # only the examples are used: batches are re-drawn by Poisson
    dataset_size(data)
    return data  # type: ignore[return-value]


def _sample_rate(n: int, sample_rate: object, batch_size: object) -> float:
    if sample_rate is not None and batch_size is not None:
        raise ParameterError(
            f"pass either sample_rate or batch_size, not both (got sample_rate={sample_rate!r}"
            f", batch_size={batch_size!r}); batch_size B means sample_rate = B / len(dataset)"
        )
    if sample_rate is None and batch_size is None:
        raise ParameterError(
            "pass batch_size (the expected Poisson batch size, e.g. 256) or sample_rate "
            "(each example's probability of joining a batch, in (0, 1])"
        )
    if batch_size is not None:
        b = check_int(batch_size, name="batch_size", minimum=1)
        if b > n:
            raise ParameterError(
                f"batch_size must be at most len(dataset) = {n}, got {b}; pass a smaller "
                "expected batch size"
            )
        return b / n
    return _check_probability(sample_rate, name="sample_rate", allow_zero=False)


def make_private(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Dataset[Any] | DataLoader[Any],
    *,
    noise_multiplier: float,
    max_grad_norm: float,
    sample_rate: float | None = None,
    batch_size: int | None = None,
    budget: Chargeable | None = None,
    epochs: int | None = None,
    max_physical_batch_size: int | None = None,
    loss_reduction: str = "mean",
    rng: SecureRandom | None = None,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    label: str = "DP-SGD",
) -> tuple[nn.Module, DPOptimizer, DPDataLoader]:
    """Return ``(module, optimizer, loader)`` that train with DP-SGD.

    Parameters
    ----------
    module : torch.nn.Module
        The model, batch-first. Its hooks record what per-example clipping needs; the same
        object is returned. BatchNorm and other batch-mixing layers are refused.
    optimizer : torch.optim.Optimizer
        Built on ``module.parameters()``; wrapped, not copied.
    data : torch.utils.data.Dataset or DataLoader
        A map-style dataset of at least one example (a DataLoader's dataset is used).
    noise_multiplier : float
        σ > 0: Gaussian noise of standard deviation σ·C per logical step.
    max_grad_norm : float
        C > 0: every example's gradient is clipped to this L2 norm.
    sample_rate : float, optional
        q in (0, 1]: each example's probability of joining a batch.
    batch_size : int, optional
        The expected batch size B (q = B / len(dataset)). Pass exactly one of the two.
    budget : Chargeable, optional
        A ``privet.store.Budget``: charged before any noise is drawn (see module notes).
    epochs : int, optional
        The planned number of epochs: with a budget, the run is charged as one event.
    max_physical_batch_size : int, optional
        Split larger Poisson batches into chunks of at most this many examples (virtual
        steps; noise is still added once per logical batch).
    loss_reduction : {"mean", "sum"}, default "mean"
        How your loss combines examples (``nn.CrossEntropyLoss()`` is ``"mean"``). With
        ``"mean"`` the noisy sum is divided by the expected batch size q·n.
    rng : SecureRandom, optional
        Membership and noise source; None makes a fresh OS-keyed one. A seeded generator
        makes the run predictable and NOT private (an InsecureRandomWarning says so).
    collate_fn : callable, optional
        Batches a list of examples (``default_collate``).
    label : str, default "DP-SGD"
        The label of budget charges.

    Returns
    -------
    tuple
        ``(module, DPOptimizer, DPDataLoader)``.

    Raises
    ------
    ParameterError
        For σ ≤ 0, C ≤ 0, q ∉ (0, 1], both or neither of ``sample_rate`` and
        ``batch_size``, a refused layer, a bad ``loss_reduction``.
    DataError
        For an empty dataset.
    ParameterTypeError
        For arguments of the wrong type.

    Examples
    --------
    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> model = torch.nn.Linear(3, 2)
    >>> data = TensorDataset(torch.randn(100, 3), torch.randint(0, 2, (100,)))
    >>> _, opt, loader = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1),
    ...     data, noise_multiplier=1.1, max_grad_norm=1.0, batch_size=10)
    >>> opt.sample_rate, len(loader), opt.is_secure
    (0.1, 10, True)
    """
    if not isinstance(optimizer, torch.optim.Optimizer) or isinstance(optimizer, DPOptimizer):
        raise ParameterTypeError(
            f"optimizer must be a torch.optim.Optimizer that is not already private, got "
            f"{type(optimizer).__name__}; pass e.g. torch.optim.SGD(model.parameters(), lr=0.1)"
        )
    dataset = _dataset(data)
    n = dataset_size(dataset)
    sigma = check_positive(
        noise_multiplier, name="noise_multiplier", hint="pass a noise multiplier such as 1.0"
    )
    c_norm = check_positive(
        max_grad_norm, name="max_grad_norm", hint="pass a clipping norm such as 1.0"
    )
    q = _sample_rate(n, sample_rate, batch_size)
    if loss_reduction not in LOSS_REDUCTIONS:
        raise ParameterError(
            f"loss_reduction must be 'mean' or 'sum', got {loss_reduction!r}; pass the "
            "reduction of your loss (nn.CrossEntropyLoss() is 'mean')"
        )
    planned = None
    if epochs is not None:
        planned = check_int(epochs, name="epochs", minimum=1) * steps_per_epoch(q)
    if rng is not None and not isinstance(rng, SecureRandom):
        raise ParameterTypeError(
            f"rng must be a privet SecureRandom or None, got {type(rng).__name__}"
        )
    if budget is not None and not isinstance(budget, Chargeable):
        raise ParameterTypeError(
            f"budget must be a privet.store Budget (anything with charge()), got "
            f"{type(budget).__name__}; get one with Ledger(path).budget(name, ...)"
        )
    generator = resolve_rng(rng)
    if not generator.is_secure:
        warnings.warn(
            "make_private got a seeded generator: its batches and noise are predictable, so "
            "this run is NOT differentially private (use it in tests only)",
            InsecureRandomWarning,
            stacklevel=2,
        )
    clipper = PerSampleClipper(module, loss_reduction=loss_reduction)
    dp_optimizer = DPOptimizer(
        optimizer,
        clipper=clipper,
        noise_multiplier=sigma,
        max_grad_norm=c_norm,
        sample_rate=q,
        expected_batch_size=q * n,
        rng=generator,
        budget=budget,
        planned_steps=planned,
        label=label,
    )
    loader = DPDataLoader(
        dataset,
        sample_rate=q,
        max_physical_batch_size=max_physical_batch_size,
        rng=generator,
        collate_fn=collate_fn,
        gate=dp_optimizer,
    )
    return module, dp_optimizer, loader


def make_private_with_epsilon(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: Dataset[Any] | DataLoader[Any],
    *,
    target_epsilon: float,
    target_delta: float,
    epochs: int,
    max_grad_norm: float,
    sample_rate: float | None = None,
    batch_size: int | None = None,
    budget: Chargeable | None = None,
    max_physical_batch_size: int | None = None,
    loss_reduction: str = "mean",
    rng: SecureRandom | None = None,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    label: str = "DP-SGD",
) -> tuple[nn.Module, DPOptimizer, DPDataLoader]:
    """Like :func:`make_private`, with σ chosen so that ``epochs`` epochs cost ≤ ``target_epsilon``.

    σ is the smallest found by :func:`privet.accounting.calibrate_noise_multiplier` (PLD) for
    ``epochs · round(1/q)`` steps at ``target_delta``; the run is planned, so a budget is
    charged once for all of it.

    Parameters
    ----------
    module, optimizer, data
        As in :func:`make_private`.
    target_epsilon : float
        The ε the whole run must not exceed.
    target_delta : float
        Its δ, in (0, 1) (well below 1 / len(dataset)).
    epochs : int
        The number of epochs planned (>= 1).
    max_grad_norm : float
        C > 0.
    sample_rate, batch_size, budget, max_physical_batch_size, loss_reduction, rng, collate_fn, label
        As in :func:`make_private`.

    Returns
    -------
    tuple
        ``(module, DPOptimizer, DPDataLoader)``.

    Raises
    ------
    ParameterError
        As :func:`make_private`, or when no σ ≤ 1e4 reaches the target.
    """
    eps = check_epsilon(target_epsilon, name="target_epsilon")
    delta = check_delta(target_delta, name="target_delta")
    n_epochs = check_int(epochs, name="epochs", minimum=1)
    n = dataset_size(_dataset(data))
    q = _sample_rate(n, sample_rate, batch_size)
    sigma = calibrate_noise_multiplier(
        target_epsilon=eps,
        delta=delta,
        sample_rate=q,
        steps=n_epochs * steps_per_epoch(q),
        method="pld",
    )
    private = make_private(
        module,
        optimizer,
        data,
        noise_multiplier=sigma,
        max_grad_norm=max_grad_norm,
        sample_rate=q,
        budget=budget,
        epochs=n_epochs,
        max_physical_batch_size=max_physical_batch_size,
        loss_reduction=loss_reduction,
        rng=rng,
        collate_fn=collate_fn,
        label=label,
    )
    private[1].charge_delta = delta  # the run is priced at the δ it was calibrated for
    return private
