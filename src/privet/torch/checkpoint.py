"""Checkpoint and resume a DP-SGD run without forgetting the privacy already spent.

One file holds the model's ``state_dict``, the wrapped optimizer's ``state_dict`` (momentum,
Adam moments …) and the privacy state: steps taken, steps paid for, σ, C, q. Resuming
restores the step count, so :meth:`~privet.torch.DPOptimizer.epsilon` continues from what
was spent, and steps already charged to a budget are not charged again.

The file is written atomically (a temporary file in the same folder, flushed and synced,
then ``os.replace``): a crash leaves the old checkpoint or the new one, never half of one.
It is read with ``torch.load(weights_only=True)``, which unpickles tensors and plain
containers only, never arbitrary objects. The noise generator's state is deliberately not
saved: a resumed run draws fresh OS-keyed noise.

Examples
--------
>>> import os, tempfile, torch
>>> from torch.utils.data import TensorDataset
>>> from privet.torch import make_private
>>> data = TensorDataset(torch.randn(40, 3), torch.randint(0, 2, (40,)))
>>> def run():
...     model = torch.nn.Linear(3, 2)
...     return make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), data,
...         noise_multiplier=1.0, max_grad_norm=1.0, batch_size=10)
>>> model, opt, loader = run()
>>> for x, y in loader:
...     opt.zero_grad(); torch.nn.functional.cross_entropy(model(x), y).backward(); opt.step()
>>> path = os.path.join(tempfile.mkdtemp(), "run.pt")
>>> save_checkpoint(path, model, opt)
>>> model2, opt2, loader2 = run()
>>> load_checkpoint(path, model2, opt2)
>>> opt2.steps == opt.steps == 4, opt2.privacy_event() == opt.privacy_event()
(True, True)
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Final

import torch
from torch import nn

from privet.core.errors import DataError, ParameterTypeError
from privet.torch.optimizer import DPOptimizer

__all__ = ["load_checkpoint", "save_checkpoint"]

_FORMAT: Final = "privet.torch.checkpoint"
_VERSION: Final = 1


def _check(module: object, optimizer: object) -> None:
    if not isinstance(module, nn.Module):
        raise ParameterTypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(optimizer, DPOptimizer):
        raise ParameterTypeError(
            f"optimizer must be the DPOptimizer from make_private, got {type(optimizer).__name__}"
        )


def save_checkpoint(
    path: str | os.PathLike[str], module: nn.Module, optimizer: DPOptimizer
) -> None:
    """Write the model, the optimizer and the privacy state to ``path``, atomically.

    Parameters
    ----------
    path : str or PathLike
        The file to (over)write; its folder must exist.
    module : torch.nn.Module
        The model being trained.
    optimizer : DPOptimizer
        Its private optimizer (between logical steps).

    Raises
    ------
    ParameterError
        In the middle of a logical batch.
    ParameterTypeError
        If ``optimizer`` is not a :class:`~privet.torch.DPOptimizer`.
    """
    _check(module, optimizer)
    payload: dict[str, Any] = {
        "format": _FORMAT,
        "version": _VERSION,
        "privacy": optimizer.privacy_state(),
        "model": module.state_dict(),
        "optimizer": optimizer.original_optimizer.state_dict(),
    }
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable (POSIX); not possible everywhere
        dir_fd = os.open(target.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def load_checkpoint(
    path: str | os.PathLike[str], module: nn.Module, optimizer: DPOptimizer
) -> None:
    """Restore a run saved by :func:`save_checkpoint` into a fresh ``make_private`` run.

    Build the model, optimizer and loader again with :func:`~privet.torch.make_private` (the
    same σ, C and q, and the same budget), then call this before training.

    Parameters
    ----------
    path : str or PathLike
        The checkpoint file.
    module : torch.nn.Module
        The model (same architecture).
    optimizer : DPOptimizer
        The new private optimizer.

    Raises
    ------
    DataError
        If the file is not a privet checkpoint or cannot be read safely.
    ParameterError
        If σ, C, q or the loss reduction differ from the checkpoint's.
    """
    _check(module, optimizer)
    try:
        payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # OSError, or pickle's UnpicklingError for a refused object
        raise DataError(
            f"cannot read a checkpoint from {os.fspath(path)!r} ({type(exc).__name__}); "
            "pass a file written by privet.torch.save_checkpoint"
        ) from None
    if (
        not isinstance(payload, dict)
        or payload.get("format") != _FORMAT
        or payload.get("version") != _VERSION
        or not all(isinstance(payload.get(k), dict) for k in ("privacy", "model", "optimizer"))
    ):
        raise DataError(
            f"{os.fspath(path)!r} is not a privet.torch checkpoint (version {_VERSION}); pass "
            "a file written by privet.torch.save_checkpoint"
        )
    optimizer.load_privacy_state(payload["privacy"])
    module.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
