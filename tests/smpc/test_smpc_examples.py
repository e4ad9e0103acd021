"""The demo functions the lead calls: the seed's example, and private inference on digits."""

from __future__ import annotations

import numpy as np
import pytest

from privet.core import SecureRandom
from privet.smpc import demo_private_inference, demo_seed_example


def test_seed_example_is_correct() -> None:
    result = demo_seed_example(rng=SecureRandom.seeded(8))
    assert result.secret == 8
    assert result.reconstructed == 8
    assert result.total == 10
    assert len(result.shares) == 3
    assert sum(result.shares) % 2**64 == 8
    assert max(result.shares) > 2**32  # uniform over Z_2^64, not small numbers
    lines = result.lines()
    assert "split among 3 workers" in lines[0]
    assert lines[-1].endswith("10")
    assert str(result.shares[0]) not in repr(result)  # shares stay out of the repr


def test_seed_example_shares_differ_between_runs() -> None:
    assert demo_seed_example().shares != demo_seed_example().shares


def test_private_inference_demo_small() -> None:
    pytest.importorskip("torch")
    report = demo_private_inference(hidden=32, steps=60, samples=300, layer_samples=20)
    assert report.samples == 300
    assert report.agreement >= 0.99
    assert report.max_logit_error <= 2e-3
    assert report.accuracy_plaintext > 0.9
    assert next(e.name for e in report.layers) == "Linear(64->32)"
    # prediction + logits only: one share from each party, each with its 8-byte encoding word
    assert report.bob_bytes_received == 2 * (8 * (300 + 300 * 10) + 2 * 8)
    assert "inference" in report.cost
    assert report.trained_on == 1348  # 75% of the 1,797 digits; Bob's 300 are none of them
    assert report.lines()[0].startswith("300 held-out digits")


@pytest.mark.slow
def test_private_inference_demo_full_peer_workload() -> None:
    pytest.importorskip("torch")
    report = demo_private_inference()  # 64-128-10, 300 Adam steps, all 1,797 digits
    assert report.agreement >= 0.999
    assert report.max_logit_error <= 2e-3
    assert np.isclose(report.accuracy_private, report.accuracy_plaintext, atol=1e-3)
