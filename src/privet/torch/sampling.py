"""Poisson sampling: the batches DP-SGD's privacy analysis assumes.

DP-SGD's amplification by subsampling (Abadi et al. 2016, arXiv:1607.00133, Sect. 3.1;
Mironov, Talwar, Zhang 2019, "Rényi differential privacy of the sampled Gaussian
mechanism", arXiv:1908.10530) holds for *Poisson* sampling: at every step each example
joins the batch independently with probability q. Batch sizes therefore vary
(Binomial(n, q)) and a batch may be empty; a shuffled fixed-size loader does not give the
guarantee the accountant computes. Membership is drawn with exact Bernoulli(q) draws from
:class:`~privet.core.random.SecureRandom` (keyed from the OS), so nobody can predict which
examples a step used.

:class:`DPDataLoader` yields one epoch of ``round(1/q)`` logical batches; with
``max_physical_batch_size`` each logical batch is cut into physical chunks that fit in
memory (virtual steps: the optimizer adds noise once per logical batch).

Examples
--------
>>> import torch
>>> from torch.utils.data import TensorDataset
>>> from privet.core.random import SecureRandom
>>> data = TensorDataset(torch.arange(100.0).unsqueeze(1), torch.zeros(100))
>>> loader = DPDataLoader(data, sample_rate=0.1, rng=SecureRandom.seeded(0))
>>> len(loader), [len(y) for _, y in loader][:3]
(10, [12, 7, 10])
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import Dataset, IterableDataset, TensorDataset, default_collate

from privet.core.checks import check_int, check_probability
from privet.core.errors import DataError, ParameterTypeError
from privet.core.random import SecureRandom, resolve_rng

__all__ = ["DPDataLoader", "PoissonSampler", "StepGate", "dataset_size", "steps_per_epoch"]


def steps_per_epoch(sample_rate: float) -> int:
    """Return the number of steps in an epoch: ``round(1/q)``, at least 1.

    With q = B/n an epoch then sees about n examples, as one pass of a shuffled loader does.

    Examples
    --------
    >>> steps_per_epoch(1 / 128), steps_per_epoch(256 / 32561), steps_per_epoch(1.0)
    (128, 127, 1)
    """
    q = check_probability(sample_rate, name="sample_rate", allow_zero=False)
    return max(1, round(1.0 / q))


def dataset_size(dataset: object) -> int:
    """Return ``len(dataset)``, refusing iterable and empty datasets with a clear error.

    Raises
    ------
    ParameterTypeError
        If ``dataset`` is not a map-style ``torch.utils.data.Dataset`` with a length.
    DataError
        If it is empty.

    Examples
    --------
    >>> from torch.utils.data import TensorDataset
    >>> import torch
    >>> dataset_size(TensorDataset(torch.zeros(0, 2)))
    Traceback (most recent call last):
    ...
    privet.core.errors.DataError: the dataset is empty; ...
    """
    if isinstance(dataset, IterableDataset) or not isinstance(dataset, Dataset):
        raise ParameterTypeError(
            f"data must be a map-style torch Dataset (with __len__ and __getitem__), got "
            f"{type(dataset).__name__}; Poisson sampling needs to index every example"
        )
    try:
        n = len(dataset)  # type: ignore[arg-type]
    except TypeError:
        raise ParameterTypeError(
            f"the dataset {type(dataset).__name__} has no length; implement __len__"
        ) from None
    if n == 0:
        raise DataError("the dataset is empty; DP-SGD needs at least one training example")
    return int(n)


class PoissonSampler:
    """Draw Poisson batches of indices: each of ``n`` examples with probability ``q``.

    Parameters
    ----------
    n : int
        Number of examples (>= 1).
    sample_rate : float
        q in (0, 1].
    rng : SecureRandom or None
        The generator; None makes a fresh OS-keyed one.

    Examples
    --------
    >>> from privet.core.random import SecureRandom
    >>> PoissonSampler(10, sample_rate=1.0, rng=SecureRandom()).sample().tolist()
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    """

    def __init__(self, n: int, *, sample_rate: float, rng: SecureRandom | None = None) -> None:
        self.n = check_int(n, name="n", minimum=1)
        self.sample_rate = check_probability(sample_rate, name="sample_rate", allow_zero=False)
        self.rng = resolve_rng(rng)

    def sample(self) -> NDArray[np.int64]:
        """Return the sorted indices of one Poisson batch (possibly none).

        Returns
        -------
        numpy.ndarray
            ``int64`` indices in ``[0, n)``.
        """
        keep = self.rng.bernoulli(self.n, p=self.sample_rate)
        return np.flatnonzero(keep).astype(np.int64)


class StepGate(Protocol):
    """What the loader tells the optimizer (implemented by :class:`~privet.torch.DPOptimizer`)."""

    def _begin_epoch(self, steps: int) -> int:
        """Start an epoch of ``steps`` logical steps; return how many may run."""
        ...

    def _begin_chunk(self, size: int, *, last: bool) -> None:
        """Note that a physical batch of ``size`` examples is handed out."""
        ...


def _empty_like(sample: Any) -> Any:
    """Turn a collated batch of one example into a batch of none (same structure)."""
    if isinstance(sample, torch.Tensor):
        return sample[:0]
    if isinstance(sample, Mapping):
        return {k: _empty_like(v) for k, v in sample.items()}
    if isinstance(sample, tuple | list):
        return type(sample)(_empty_like(v) for v in sample)
    return sample


@dataclasses.dataclass
class DPDataLoader:
    """Yield Poisson-sampled batches of a map-style dataset, one epoch per iteration.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        A map-style dataset (``TensorDataset`` is read by fancy indexing, fast).
    sample_rate : float
        q in (0, 1]: each example's probability of joining a batch.
    max_physical_batch_size : int or None, default None
        Largest chunk handed out at once; a logical batch larger than this is split
        (virtual steps). None: never split.
    rng : SecureRandom or None, default None
        The generator for membership; None makes a fresh OS-keyed one.
    collate_fn : callable or None, default None
        Combines a list of examples (``torch.utils.data.default_collate`` by default).
    gate : StepGate or None, default None
        The optimizer that must see every chunk (set by :func:`~privet.torch.make_private`).

    Attributes
    ----------
    steps_per_epoch : int
        ``round(1/q)`` logical batches per epoch (``len(loader)``).
    """

    dataset: Dataset[Any]
    sample_rate: float
    max_physical_batch_size: int | None = None
    rng: SecureRandom | None = None
    collate_fn: Callable[[list[Any]], Any] | None = None
    gate: StepGate | None = None

    def __post_init__(self) -> None:
        self.n = dataset_size(self.dataset)
        self.sample_rate = check_probability(self.sample_rate, name="sample_rate", allow_zero=False)
        if self.max_physical_batch_size is not None:
            self.max_physical_batch_size = check_int(
                self.max_physical_batch_size, name="max_physical_batch_size", minimum=1
            )
        self.rng = resolve_rng(self.rng)
        self.sampler = PoissonSampler(self.n, sample_rate=self.sample_rate, rng=self.rng)
        self.steps_per_epoch = steps_per_epoch(self.sample_rate)
        self._template: Any = None

    def __len__(self) -> int:
        return self.steps_per_epoch

    def __repr__(self) -> str:
        return (
            f"DPDataLoader(n={self.n}, sample_rate={self.sample_rate:.6g}, "
            f"steps_per_epoch={self.steps_per_epoch}, "
            f"max_physical_batch_size={self.max_physical_batch_size})"
        )

    def _fetch(self, idx: NDArray[np.int64]) -> Any:
        ds = self.dataset
        if self.collate_fn is None and isinstance(ds, TensorDataset):
            t = torch.from_numpy(idx)
            return [torch.index_select(x, 0, t) for x in ds.tensors]
        collate = self.collate_fn or default_collate
        if idx.size == 0:
            if self._template is None:
                self._template = _empty_like(collate([ds[0]]))
            return self._template
        getitems = getattr(ds, "__getitems__", None)
        items: Sequence[Any] = (
            getitems(idx.tolist()) if callable(getitems) else [ds[int(i)] for i in idx]
        )
        return collate(list(items))

    def _chunks(self, idx: NDArray[np.int64]) -> list[NDArray[np.int64]]:
        cap = self.max_physical_batch_size
        if cap is None or idx.size <= cap:
            return [idx]
        return list(np.array_split(idx, math.ceil(idx.size / cap)))

    def __iter__(self) -> Iterator[Any]:
        steps = self.steps_per_epoch
        if self.gate is not None:
            steps = self.gate._begin_epoch(steps)
        for _ in range(steps):
            chunks = self._chunks(self.sampler.sample())
            for k, chunk in enumerate(chunks):
                batch = self._fetch(chunk)
                if self.gate is not None:
                    self.gate._begin_chunk(int(chunk.size), last=k == len(chunks) - 1)
                yield batch
