"""Worked examples for the demo: the seed's secret sharing, and private inference on digits.

:func:`demo_seed_example` replays the seed article's example correctly: the secret 8 split
among 3 workers with *uniform* shares (the article's shares are neither uniform nor do they
add up to 8 modulo its Q), reconstructed, then ``5 + 5 = 10`` computed on shares.

:func:`demo_private_inference` is the seed's Bob: a hospital trains an MLP on scikit-learn's
digits and secret-shares it; Bob secret-shares his images (digits held out of training); the
parties compute the logits and the argmax without seeing either; only Bob opens the
prediction.

Examples
--------
>>> result = demo_seed_example()
>>> result.reconstructed, result.total
(8, 10)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from privet.core.errors import ParameterError
from privet.core.random import SecureRandom, resolve_rng
from privet.smpc.cluster import InProcessCluster
from privet.smpc.comparison import argmax
from privet.smpc.cost import CostReport
from privet.smpc.model import LayerError
from privet.smpc.ring import from_signed, to_signed
from privet.smpc.sharing import reconstruct_additive, share_additive

__all__ = ["InferenceReport", "SeedExample", "demo_private_inference", "demo_seed_example"]

WORKERS = ("Marc", "Bob", "Alice")


@dataclass(frozen=True)
class SeedExample:
    """The seed's example, done right (see :func:`demo_seed_example`).

    The shares are shown on purpose (a teaching example); they are left out of ``repr``.
    """

    secret: int
    shares: tuple[int, ...] = field(repr=False)
    reconstructed: int
    total: int
    parties: int

    def lines(self) -> list[str]:
        """Return the lines to print."""
        share_text = ", ".join(f"{w}={s}" for w, s in zip(WORKERS, self.shares, strict=False))
        return [
            f"secret {self.secret} split among {self.parties} workers over Z_2^64: {share_text}",
            "each share alone is uniform on [0, 2^64): it says nothing about the secret",
            f"sum of the shares mod 2^64 = {self.reconstructed}",
            f"5 + 5 on shares, opened: {self.total}",
        ]


def demo_seed_example(*, rng: SecureRandom | None = None) -> SeedExample:
    """Split 8 among 3 workers, reconstruct it, and add 5 + 5 on shares.

    Parameters
    ----------
    rng
        The generator for the shares (``None``: a fresh OS-keyed one).

    Returns
    -------
    SeedExample
        The shares, the reconstruction and ``5 + 5``; ``.lines()`` gives the text.
    """
    gen = resolve_rng(rng)
    secret = 8
    shares = share_additive(from_signed(np.array([secret])), parties=3, rng=gen)
    reconstructed = int(to_signed(reconstruct_additive(shares))[0])
    with InProcessCluster(parties=3, rng=rng) as cluster:
        x = cluster.share([5], integer=True)
        y = cluster.share([5], integer=True)
        total = int((x + y).reveal()[0])
    return SeedExample(secret, tuple(int(s[0]) for s in shares), reconstructed, total, 3)


@dataclass
class InferenceReport:
    """What :func:`demo_private_inference` measured.

    Attributes
    ----------
    samples
        Images classified.
    agreement
        Fraction of private predictions equal to the plaintext model's.
    max_logit_error
        ``max |private logit - plaintext logit|``.
    trained_on
        How many digits the model was trained on (none of those Bob classifies).
    accuracy_private, accuracy_plaintext
        Accuracy against the true labels of the held-out digits.
    layers
        Each layer's error against plaintext (on ``layer_samples`` images).
    cost
        Bytes, rounds and time per operation.
    forward_seconds
        Wall time of the shared forward pass.
    bob_bytes_received
        What Bob's endpoint received (the prediction and logits, nothing else).
    """

    samples: int
    trained_on: int
    agreement: float
    max_logit_error: float
    accuracy_private: float
    accuracy_plaintext: float
    layers: list[LayerError]
    cost: CostReport
    forward_seconds: float
    bob_bytes_received: int

    def lines(self) -> list[str]:
        """Return the lines to print."""
        out = [
            f"{self.samples} held-out digits classified on secret-shared inputs and weights "
            f"(the model was trained on {self.trained_on} others)",
            f"agreement with the plaintext model: {self.agreement:.2%}; "
            f"max logit error {self.max_logit_error:.2e}",
            f"accuracy on the held-out digits: private {self.accuracy_private:.2%} / "
            f"plaintext {self.accuracy_plaintext:.2%}",
            f"forward pass {self.forward_seconds:.2f} s; "
            f"{self.cost['inference'].bytes_sent / 1e6:.1f} MB between the parties",
        ]
        out += [f"  {e.name}: max error {e.max_abs_error:.2e}" for e in self.layers]
        return out


def _train_mlp(
    x: NDArray[np.float64], y: NDArray[Any], *, hidden: int, steps: int, seed: int
) -> Any:
    import torch
    from torch import nn

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a small model: one thread is faster than contended ones
    try:
        torch.manual_seed(seed)  # reproducible training; protects nothing
        net = nn.Sequential(nn.Linear(x.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, 10))
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        xt = torch.tensor(x, dtype=torch.float32)
        yt = torch.tensor(y)
        for _ in range(steps):
            opt.zero_grad()
            nn.functional.cross_entropy(net(xt), yt).backward()  # type: ignore[no-untyped-call]
            opt.step()
    finally:
        torch.set_num_threads(threads)
    return net.eval()


def demo_private_inference(
    *,
    hidden: int = 128,
    steps: int = 300,
    samples: int | None = None,
    layer_samples: int = 100,
    parties: int = 2,
    seed: int = 0,
    truncation: str = "dealer",
    processes: bool = False,
    held_out: float = 0.25,
) -> InferenceReport:
    """Private MLP inference on scikit-learn's digits (the seed's Bob).

    Parameters
    ----------
    hidden
        Hidden units of the MLP ``64-hidden-ReLU-10``.
    steps
        Full-batch Adam steps of plaintext training.
    samples
        How many held-out digits Bob classifies (``None``: all of them).
    layer_samples
        How many digits the per-layer error report uses.
    parties
        Computing parties.
    seed
        The training seed (for reproducible weights; it protects nothing).
    truncation
        The truncation mode (:mod:`privet.smpc.truncation`).
    processes
        Run the parties and the dealer as OS processes over mutual TLS
        (:class:`~privet.smpc.local_cluster.LocalCluster`) instead of threads.
    held_out
        The fraction of the 1,797 digits kept out of training, for Bob to classify.

    Returns
    -------
    InferenceReport
        Agreement, errors, per-layer errors and costs; ``.lines()`` gives the text.
    """
    import torch
    from sklearn.datasets import load_digits

    x_all, y_all = load_digits(return_X_y=True)
    if not 0.0 < held_out < 1.0:
        raise ParameterError(f"held_out must be in (0, 1), got {held_out}")
    x = np.asarray(x_all, dtype=np.float64) / 16.0
    y = np.asarray(y_all)
    # a reproducible split of public data; it protects nothing
    order = np.random.default_rng(seed).permutation(len(x))
    cut = round(len(x) * (1.0 - held_out))
    train, test = order[:cut], order[cut:]
    net = _train_mlp(x[train], y[train], hidden=hidden, steps=steps, seed=seed)
    n = len(test) if samples is None else min(samples, len(test))
    xb, yb = x[test[:n]], y[test[:n]]
    with torch.no_grad():
        plain = net.double()(torch.tensor(xb)).numpy()
    from privet.smpc.local_cluster import LocalCluster

    cluster_type = LocalCluster if processes else InProcessCluster
    with cluster_type(
        parties=parties, clients=("hospital", "bob"), truncation=truncation
    ) as cluster:
        model = cluster.from_torch(net, owner="hospital")
        shared_x = cluster.share(xb, owner="bob")
        t0 = time.perf_counter()
        logits = model(shared_x)
        forward = time.perf_counter() - t0
        pred = argmax(logits, axis=1).reveal(to="bob")
        bob_logits = logits.reveal(to="bob")
        bob_bytes = cluster.client_stats("bob").bytes_received
        k = min(layer_samples, n)
        layers = model.layer_errors(cluster.share(xb[:k], owner="hospital"), xb[:k])
        cost = cluster.cost_report()
    return InferenceReport(
        samples=n,
        trained_on=len(train),
        agreement=float(np.mean(pred == plain.argmax(axis=1))),
        max_logit_error=float(np.max(np.abs(bob_logits - plain))),
        accuracy_private=float(np.mean(pred == yb)),
        accuracy_plaintext=float(np.mean(plain.argmax(axis=1) == yb)),
        layers=layers,
        cost=cost,
        forward_seconds=forward,
        bob_bytes_received=bob_bytes,
    )
