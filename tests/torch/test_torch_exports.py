"""privet.torch's public names are pinned (cf. httpx's test_exported_members.py)."""

from __future__ import annotations

import privet.torch as room
from privet.torch import (
    checkpoint,
    clipper,
    engine,
    ghost,
    grad_sample,
    layers,
    optimizer,
    sampling,
    trainer,
    zoo,
)

EXPECTED = {
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
}


def test_room_exports_exactly_the_public_api() -> None:
    assert set(room.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(room, name) is not None


def test_every_module_lists_what_it_defines() -> None:
    for module in (
        checkpoint, clipper, engine, ghost, grad_sample, layers, optimizer, sampling, trainer, zoo
    ):  # fmt: skip
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"
            obj = getattr(module, name)
            assert getattr(obj, "__doc__", None) or isinstance(obj, tuple | dict), name
