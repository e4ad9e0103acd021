"""The DP-SGD optimizer: clip per example, sum, add Gaussian noise, step, account.

One logical step of DP-SGD (Abadi et al. 2016, "Deep learning with differential privacy",
arXiv:1607.00133, Algorithm 1) on a Poisson batch L:

    g̃ = Σ_{i∈L} g_i · min(1, C/‖g_i‖)  +  N(0, σ²C² I)

then, for a mean loss, g̃ / (q·n) (the expected batch size), handed to the wrapped
optimizer (SGD, Adam … any update that is post-processing of g̃). The noise comes from
:class:`~privet.core.random.SecureRandom` (AES-CTR keyed from the OS) into a torch tensor;
a seeded generator is accepted only when passed explicitly and then flagged
(:attr:`DPOptimizer.is_secure`, an :class:`~privet.errors.InsecureRandomWarning`).

The optimizer counts the logical steps it released; :meth:`DPOptimizer.epsilon` prices them
as ``SelfComposedEvent(PoissonSampledEvent(q, GaussianEvent(σ)), steps)`` with the PLD
accountant (:func:`privet.accounting.dpsgd_epsilon`). With a budget it never draws noise
that was not charged first (see :mod:`privet.torch.engine` for when charges happen).

Examples
--------
>>> import torch
>>> from torch.utils.data import TensorDataset
>>> from privet.core.random import SecureRandom
>>> from privet.torch import make_private
>>> data = TensorDataset(torch.randn(64, 3), torch.randint(0, 2, (64,)))
>>> model = torch.nn.Linear(3, 2)
>>> _, opt, loader = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), data,
...     noise_multiplier=1.0, max_grad_norm=1.0, batch_size=16, rng=SecureRandom.seeded(1))
>>> for x, y in loader:
...     opt.zero_grad()
...     torch.nn.functional.cross_entropy(model(x), y).backward()
...     opt.step()
>>> opt.steps, opt.is_secure
(4, False)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from privet.accounting.chargeable import Chargeable, charge_budget
from privet.accounting.dpsgd import dpsgd_epsilon
from privet.accounting.events import (
    GaussianEvent,
    PoissonSampledEvent,
    PrivacyEvent,
    SelfComposedEvent,
)
from privet.core.errors import BudgetExceededError, ParameterError
from privet.core.random import SecureRandom
from privet.torch.clipper import PerSampleClipper

__all__ = ["DPOptimizer", "dpsgd_event", "secure_normal"]


@dataclasses.dataclass(frozen=True)
class _Chunk:
    size: int
    last: bool


def secure_normal(rng: SecureRandom, n: int, *, scale: float) -> Tensor:
    """Return ``n`` draws of N(0, scale²) as a float64 tensor, from ``rng``'s keystream.

    The same Box–Muller transform as :meth:`SecureRandom.normal
    <privet.core.random.SecureRandom.normal>`, on the same uniforms (``rng.random``, 53
    random bits each), in the same order: for a seeded generator the values agree with
    ``rng.normal(n, scale=scale)`` to float rounding (a test checks it). Only the
    transcendental functions run in torch, vectorised, about three times faster on the
    20 000-coordinate noise of a small MLP.

    Examples
    --------
    >>> a = secure_normal(SecureRandom.seeded(5), 3, scale=2.0)
    >>> b = SecureRandom.seeded(5).normal(3, scale=2.0)
    >>> bool(torch.allclose(a, torch.from_numpy(b), rtol=1e-12, atol=0))
    True
    """
    m = (n + 1) // 2
    u = torch.from_numpy(rng.random(2 * m))
    radius = torch.log1p(-u[:m]).mul_(-2.0).sqrt_()  # 1 - u ∈ (0, 1]: log never sees 0
    theta = u[m:].mul(2.0 * math.pi)
    z = torch.empty(2 * m, dtype=torch.float64)
    torch.mul(radius, torch.cos(theta), out=z[:m])
    torch.mul(radius, torch.sin(theta), out=z[m:])
    return z[:n].mul_(scale) if scale != 1.0 else z[:n]


def dpsgd_event(*, noise_multiplier: float, sample_rate: float, steps: int) -> PrivacyEvent:
    """Return the privacy event of ``steps`` DP-SGD steps (Poisson-subsampled Gaussian).

    Examples
    --------
    >>> dpsgd_event(noise_multiplier=1.0, sample_rate=0.01, steps=3).count
    3
    """
    step = PoissonSampledEvent(
        sampling_probability=sample_rate, event=GaussianEvent(noise_multiplier=noise_multiplier)
    )
    return SelfComposedEvent(event=step, count=steps)


class DPOptimizer(torch.optim.Optimizer):
    """Wrap a torch optimizer so that each logical step is a DP-SGD step.

    Made by :func:`~privet.torch.make_private`; it shares the wrapped optimizer's
    ``param_groups`` and ``state`` (learning-rate schedulers work on either). Call
    ``zero_grad()``, ``loss.backward()`` and ``step()`` once per batch the private loader
    yields, empty batches included.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        The optimizer to wrap.
    clipper : PerSampleClipper
        Attached to the model being trained.
    noise_multiplier : float
        σ > 0: the noise standard deviation is σ·C.
    max_grad_norm : float
        C > 0, the per-example clipping norm.
    sample_rate : float
        q, the Poisson sampling probability of the loader.
    expected_batch_size : float
        q·n; a mean loss's noisy sum is divided by it.
    rng : SecureRandom
        The noise generator.
    budget : Chargeable or None, default None
        Charged before any noise is drawn.
    planned_steps : int or None, default None
        With a budget: charge this many steps at once, as one event (None: one epoch at a
        time).
    label : str, default "DP-SGD"
        The label of budget charges.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        clipper: PerSampleClipper,
        noise_multiplier: float,
        max_grad_norm: float,
        sample_rate: float,
        expected_batch_size: float,
        rng: SecureRandom,
        budget: Chargeable | None = None,
        planned_steps: int | None = None,
        label: str = "DP-SGD",
    ) -> None:
        super().__init__(optimizer.param_groups, optimizer.defaults)
        self.param_groups = optimizer.param_groups
        self.state = optimizer.state
        self.defaults = optimizer.defaults
        self.original_optimizer = optimizer
        self.clipper = clipper
        self.noise_multiplier = noise_multiplier
        self.max_grad_norm = max_grad_norm
        self.sample_rate = sample_rate
        self.expected_batch_size = expected_batch_size
        self.rng = rng
        self.budget = budget
        self.planned_steps = planned_steps
        self.label = label
        # δ at which a budget with a basic/advanced filter prices the run (PLD); None: the
        # budget's default share of its δ. An 'rdp' budget prices the run by its RDP curve.
        self.charge_delta: float | None = None
        self.steps = 0
        self.paid_steps = 0
        self._pending: _Chunk | None = None
        self._sums: dict[nn.Parameter, Tensor] | None = None
        self._assigned: dict[nn.Parameter, Tensor] = {}
        known = {id(p) for p in clipper.params}
        for group in self.param_groups:
            for p in group["params"]:
                if p.requires_grad and id(p) not in known:
                    raise ParameterError(
                        f"the optimizer holds a trainable parameter of shape {tuple(p.shape)} "
                        "that is not in the model; build the optimizer from "
                        "model.parameters()"
                    )

    @property
    def _denom(self) -> float:
        """What the noisy sum is divided by: q·n for a mean loss, 1 for a sum."""
        return self.expected_batch_size if self.clipper.loss_reduction == "mean" else 1.0

    # -- reporting -----------------------------------------------------------------------

    @property
    def is_secure(self) -> bool:
        """False when the noise comes from a seeded (predictable) generator: not private."""
        return self.rng.is_secure

    def __repr__(self) -> str:
        secure = "" if self.is_secure else ", INSECURE seeded noise (tests only)"
        return (
            f"DPOptimizer({type(self.original_optimizer).__name__}, "
            f"noise_multiplier={self.noise_multiplier:.6g}, max_grad_norm="
            f"{self.max_grad_norm:.6g}, sample_rate={self.sample_rate:.6g}, "
            f"steps={self.steps}{secure})"
        )

    def privacy_event(self) -> PrivacyEvent:
        """Return the event of the steps taken so far (what the accountant prices)."""
        return dpsgd_event(
            noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate, steps=self.steps
        )

    def epsilon(self, delta: float) -> float:
        """Return ε at ``delta`` of the steps taken so far (PLD accounting).

        Parameters
        ----------
        delta : float
            Target δ in (0, 1).

        Returns
        -------
        float
            ``dpsgd_epsilon(noise_multiplier=σ, sample_rate=q, steps=steps, delta=delta,
            method="pld")``.
        """
        return dpsgd_epsilon(
            noise_multiplier=self.noise_multiplier,
            sample_rate=self.sample_rate,
            steps=self.steps,
            delta=delta,
            method="pld",
        )

    # -- the loader's side -----------------------------------------------------------------

    def _charge(self, count: int, what: str) -> None:
        if self.budget is None or count <= 0:
            return
        event = dpsgd_event(
            noise_multiplier=self.noise_multiplier, sample_rate=self.sample_rate, steps=count
        )
        charge_budget(self.budget, event, label=f"{self.label}: {what}", delta=self.charge_delta)
        self.paid_steps += count

    def _begin_epoch(self, steps: int) -> int:
        """Discard a half-done step, charge the budget if needed, return the steps allowed."""
        self._pending, self._sums = None, None
        self.clipper.reset()
        if self.budget is None:
            return steps
        if self.planned_steps is not None:
            self._charge(self.planned_steps - self.paid_steps, "the planned run")
            left = self.paid_steps - self.steps
            if left <= 0:
                raise BudgetExceededError(
                    f"the planned run of {self.paid_steps} steps is complete and paid for; "
                    "nothing more is charged: start a new run (make_private) to train more"
                )
            return min(steps, left)
        self._charge(self.steps + steps - self.paid_steps, f"epoch of {steps} steps")
        return steps

    def _begin_chunk(self, size: int, *, last: bool) -> None:
        """Note the physical batch just handed out; refuse one whose step was skipped."""
        if self._pending is not None:
            raise ParameterError(
                "optimizer.step() was not called for the previous batch; call it once per "
                "batch the private loader yields (empty batches included), or start a new "
                "epoch with a new iteration over the loader"
            )
        self.clipper.reset()
        self._pending = _Chunk(size, last)

    # -- the training side -----------------------------------------------------------------

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear parameter gradients and what the model recorded since the last step.

        Sums accumulated over the chunks of a logical batch are kept.
        """
        self.clipper.reset()
        super().zero_grad(set_to_none=set_to_none)

    def _refuse_outside_gradients(self) -> None:
        for p in self.clipper.params:
            g = p.grad
            if g is not None and g is not self._assigned.get(p):
                raise ParameterError(
                    f"a parameter of shape {tuple(p.shape)} received a gradient from "
                    "outside the model's forward pass (a penalty on the weights, or a call "
                    "of a layer on its own), which cannot be clipped per example; put it "
                    "in the model, or use the optimizer's weight_decay"
                )

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Clip and sum this batch; on a logical batch's last chunk, add noise and step.

        Parameters
        ----------
        closure : callable or None
            Re-evaluates the model and returns the loss (run before clipping).

        Returns
        -------
        Any
            The closure's loss, or None.

        Raises
        ------
        ParameterError
            If no batch was drawn from the private loader since the last step, if the model
            saw a batch of another size, or if ``backward`` was not called.
        BudgetExceededError
            If the step's noise was not paid for.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        chunk = self._pending
        if chunk is None:
            raise ParameterError(
                "step() needs a batch drawn from the loader that make_private returned, "
                "one step per batch; draw the next batch first"
            )
        self._refuse_outside_gradients()
        seen = self.clipper.batch_size()
        if seen is None and chunk.size > 0:
            raise ParameterError(
                f"nothing was recorded for this batch of {chunk.size} examples: run the "
                "model on it in training mode (model.train()) and call loss.backward() "
                "before step()"
            )
        if seen is not None and seen != chunk.size:
            raise ParameterError(
                f"the model saw {seen} examples but the loader's batch has {chunk.size}; "
                "train only on the batches the private loader yields, whole"
            )
        sums = self.clipper.clipped_sum(max_grad_norm=self.max_grad_norm, scale=1.0 / self._denom)
        if self._sums is None:
            self._sums = sums
        else:
            for p, s in sums.items():
                self._sums[p] += s
        self.clipper.reset()
        self._pending = None
        if chunk.last:
            self._release(self._sums)
            self._sums = None
        return loss

    def _release(self, sums: dict[nn.Parameter, Tensor]) -> None:
        if self.budget is not None and self.steps >= self.paid_steps:
            raise BudgetExceededError(
                f"step {self.steps + 1} was not paid for ({self.paid_steps} charged); no "
                "noise was drawn: iterate over the private loader, which charges first"
            )
        params = list(sums)
        total = sum(p.numel() for p in params)
        # Abadi et al. 2016, Algorithm 1, "add noise": N(0, σ²C²I) from the CSPRNG; the sums
        # arrive already divided by the mean loss's denominator, and so is the noise.
        scale = self.noise_multiplier * self.max_grad_norm / self._denom
        drawn = secure_normal(self.rng, total, scale=scale) if total else None
        self.steps += 1  # noise drawn: this step counts, whatever happens next
        offset = 0
        self._assigned = {}
        cast: dict[tuple[torch.dtype, torch.device], Tensor] = {}
        for p in params:
            k = p.numel()
            g = sums[p]
            if drawn is not None:
                key = (p.dtype, p.device)
                if key not in cast:
                    cast[key] = drawn.to(dtype=p.dtype, device=p.device)
                g = g.add_(cast[key][offset : offset + k].view_as(g))
            offset += k
            p.grad = g
            self._assigned[p] = g
        self.original_optimizer.step()

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Refuse new parameters once private: they would escape per-example clipping.

        Raises
        ------
        ParameterError
            Always after construction (build the optimizer with every parameter first).
        """
        if getattr(self, "original_optimizer", None) is None:  # torch's own __init__
            super().add_param_group(param_group)
            return
        raise ParameterError(
            "parameters cannot be added to a private optimizer: their gradients would not "
            "be clipped per example; add them to the optimizer before make_private"
        )

    # -- state -----------------------------------------------------------------------------

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load the wrapped optimizer's state (momentum …), keeping the two in sync."""
        self.original_optimizer.load_state_dict(state_dict)
        self.param_groups = self.original_optimizer.param_groups
        self.state = self.original_optimizer.state

    def privacy_state(self) -> dict[str, Any]:
        """Return what a checkpoint must keep to resume without forgetting spent privacy.

        Raises
        ------
        ParameterError
            In the middle of a logical batch (between its chunks).
        """
        if self._sums is not None or self._pending is not None:
            raise ParameterError(
                "a checkpoint can only be taken between logical steps; save after step() "
                "on the last chunk of a batch"
            )
        return {
            "steps": self.steps,
            "paid_steps": self.paid_steps,
            "noise_multiplier": self.noise_multiplier,
            "max_grad_norm": self.max_grad_norm,
            "sample_rate": self.sample_rate,
            "expected_batch_size": self.expected_batch_size,
            "loss_reduction": self.clipper.loss_reduction,
            "planned_steps": -1 if self.planned_steps is None else self.planned_steps,
        }

    def load_privacy_state(self, state: dict[str, Any]) -> None:
        """Restore the steps taken (and paid) from :meth:`privacy_state` output.

        The noise multiplier, clipping norm, sample rate and loss reduction must match this
        optimizer's: a resumed run continues the same mechanism.

        Raises
        ------
        ParameterError
            If they differ, or the state is malformed.
        """
        expect: dict[str, float | str] = {
            "noise_multiplier": self.noise_multiplier,
            "max_grad_norm": self.max_grad_norm,
            "sample_rate": self.sample_rate,
            "loss_reduction": self.clipper.loss_reduction,
        }
        for key, value in expect.items():
            got = state.get(key)
            if isinstance(value, str) or not isinstance(got, float | int):
                same = got == value
            else:
                same = math.isclose(float(got), value, rel_tol=1e-12)
            if not same:
                raise ParameterError(
                    f"the checkpoint's {key} is {got!r} but this run's is {value!r}; resume "
                    f"with make_private(..., {key}={got!r})"
                )
        steps, paid = state.get("steps"), state.get("paid_steps")
        if not isinstance(steps, int) or not isinstance(paid, int) or steps < 0 or paid < 0:
            raise ParameterError("the checkpoint's step counts are malformed")
        self.steps = max(self.steps, steps)
        self.paid_steps = max(self.paid_steps, paid)
