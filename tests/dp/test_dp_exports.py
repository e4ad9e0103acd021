"""privet.dp's public names are pinned: removing or renaming one is a visible decision."""

import privet.dp as dp

EXPECTED = {
    "AboveThreshold",
    "Chargeable",
    "GroupBy",
    "QueryResult",
    "Release",
    "Session",
    "SparseVector",
    "discrete_gaussian",
    "discrete_gaussian_release",
    "discrete_laplace",
    "discrete_laplace_release",
    "exponential",
    "exponential_release",
    "gaussian",
    "gaussian_release",
    "laplace",
    "laplace_release",
    "permute_and_flip",
    "permute_and_flip_release",
    "report_noisy_max",
    "report_noisy_max_release",
}


def test_dp_exports_exactly_its_public_api() -> None:
    assert set(dp.__all__) == EXPECTED
    for name in dp.__all__:
        assert getattr(dp, name) is not None
