"""The zoo and train_classifier: shapes, seeds, one-call training and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch_helpers  # noqa: F401  (two threads at most)

from privet.core.random import SecureRandom
from privet.errors import DataError, ParameterError
from privet.torch import logistic_regression, make_model, mlp, train_classifier


def test_zoo_models_and_seeded_initial_weights() -> None:
    assert logistic_regression(7, 3)(torch.zeros(2, 7)).shape == (2, 3)
    assert [m.out_features for m in mlp(4, 2, hidden=(5, 6)) if hasattr(m, "out_features")] == [
        5,
        6,
        2,
    ]
    a = make_model("mlp", in_features=3, seed=1)
    state = torch.random.get_rng_state()
    b = make_model("mlp", in_features=3, seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)  # global generator untouched
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    with pytest.raises(ParameterError, match="model must be one of"):
        make_model("resnet", in_features=3)


def test_train_classifier_reports_each_epoch() -> None:
    gen = np.random.default_rng(2)
    x = gen.normal(size=(600, 3)).astype(np.float32)
    y = (x[:, 1] > 0).astype(np.int64)
    seen = []
    result = train_classifier(
        x, y, x_test=x, y_test=y, model="logistic", epochs=2, batch_size=30, lr=0.5,
        noise_multiplier=2.0, rng=SecureRandom.seeded(4), on_epoch=seen.append,
    )  # fmt: skip
    assert [r.epoch for r in seen] == [1, 2]
    assert all(r.epsilon is not None for r in seen)
    assert result.steps == 40
    assert result.epsilon == seen[-1].epsilon
    assert result.accuracy is not None
    assert result.accuracy > 0.9
    assert not result.secure
    assert not result.model.training


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"noise_multiplier": None}, ParameterError, "exactly one"),
        ({"target_epsilon": 1.0}, ParameterError, "exactly one"),
        ({"x_train": np.full((10, 2), np.nan)}, DataError, "NaN"),
        ({"y_train": -np.ones(10)}, DataError, "negative"),
        ({"x_train": np.zeros(10)}, DataError, "2-D"),
        ({"lr": 0.0}, ParameterError, "lr"),
    ],
)
def test_train_classifier_refuses_bad_inputs(
    kwargs: dict[str, object], error: type, match: str
) -> None:
    args: dict[str, object] = {
        "x_train": np.zeros((10, 2)),
        "y_train": np.zeros(10),
        "noise_multiplier": 1.0,
        "batch_size": 2,
    }
    args.update(kwargs)
    with pytest.raises(error, match=match):
        train_classifier(args.pop("x_train"), args.pop("y_train"), **args)  # type: ignore[arg-type]
