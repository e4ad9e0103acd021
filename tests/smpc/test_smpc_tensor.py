"""SharedTensor in an InProcessCluster: operators match numpy within the stated bounds,
costs are accounted, results reach one client only, and misuse is refused."""

from __future__ import annotations

import pickle
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from smpc_harness import quantize

from privet.core import SecureRandom
from privet.errors import ParameterError, ParameterTypeError, ProtocolError
from privet.smpc import InProcessCluster, SharedTensor, concatenate, stack
from privet.smpc.tensor import ltz, take

ULP = 2.0**-16

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def cluster() -> Iterator[InProcessCluster]:
    with InProcessCluster(parties=2, clients=("bob",), rng=SecureRandom.seeded(7)) as c:
        yield c


@pytest.fixture(scope="module")
def cluster3() -> Iterator[InProcessCluster]:
    with InProcessCluster(parties=3, truncation="exact", rng=SecureRandom.seeded(8)) as c:
        yield c


reals = st.floats(-1000, 1000, allow_nan=False, width=64)


def division_bound(q: np.ndarray, c: float, *, integer: bool = False, guard: int = 8) -> np.ndarray:
    """The documented error of ``x / c`` for a public ``c`` (tensor.py's docstring), f = 16."""
    f, top = 16, int(np.ceil(np.log2(abs(c))))
    lift = 0 if top <= guard else (top - guard if integer else min(f, top - guard // 2))
    pre = 0.0 if integer or lift == 0 else 2.0**lift / abs(c)
    return np.abs(q) * 2.0 ** -(f + guard + lift) + (1 + pre) * ULP


vectors = hnp.arrays(np.float64, st.integers(1, 40), elements=reals)


@settings(max_examples=25, deadline=None)
@given(x=vectors, data=st.data())
def test_add_sub_mul_match_numpy(
    cluster: InProcessCluster, x: np.ndarray, data: st.DataObject
) -> None:
    y = data.draw(hnp.arrays(np.float64, x.shape, elements=reals))
    qx, qy = quantize(x), quantize(y)
    sx, sy = cluster.share(x), cluster.share(y)
    assert np.array_equal((sx + sy).reveal(), qx + qy)  # addition is exact on the encodings
    assert np.array_equal((sx - sy).reveal(), qx - qy)
    assert np.array_equal((-sx).reveal(), -qx)
    # one truncation of the exact product of the encodings: within 1 ulp (dealer mode)
    assert np.all(np.abs((sx * sy).reveal() - qx * qy) <= ULP)
    assert np.all(np.abs((sx * sx).reveal() - qx * qx) <= ULP)


@settings(max_examples=20, deadline=None)
@given(x=vectors, c=st.floats(-100, 100, allow_nan=False), k=st.integers(-1000, 1000))
def test_public_operands(cluster: InProcessCluster, x: np.ndarray, c: float, k: int) -> None:
    qx, qc = quantize(x), quantize(c)
    sx = cluster.share(x)
    assert np.array_equal((sx * k).reveal(), qx * k)  # integers: exact, no truncation
    assert np.array_equal((k + sx).reveal(), qx + k)
    assert np.all(np.abs((sx * c).reveal() - qx * qc) <= ULP)
    assert np.all(np.abs((c - sx).reveal() - (qc - qx)) <= 0)
    if abs(c) > 0.01:
        assert np.all(np.abs((sx / c).reveal() - qx / c) <= division_bound(qx, c))


@settings(max_examples=15, deadline=None)
@given(
    shapes=st.sampled_from([((3, 4), (4, 2)), ((5,), (5,)), ((2, 3, 4), (4, 5)), ((6,), (6, 2))]),
    seed=st.integers(0, 1000),
)
def test_matmul_matches_numpy(
    cluster: InProcessCluster, shapes: tuple[tuple[int, ...], ...], seed: int
) -> None:
    g = np.random.default_rng(seed)
    a, b = g.uniform(-3, 3, shapes[0]), g.uniform(-3, 3, shapes[1])
    qa, qb = quantize(a), quantize(b)
    sa, sb = cluster.share(a), cluster.share(b)
    got = (sa @ sb).reveal()
    assert got.shape == (a @ b).shape
    assert np.all(np.abs(got - qa @ qb) <= ULP)  # the exact sum of products, truncated once
    assert np.all(np.abs((sa @ b).reveal() - qa @ qb) <= ULP)
    assert np.all(np.abs((a @ sb).reveal() - qa @ qb) <= ULP)


@settings(max_examples=20, deadline=None)
@given(x=vectors, data=st.data())
def test_comparisons_are_exact(
    cluster: InProcessCluster, x: np.ndarray, data: st.DataObject
) -> None:
    y = data.draw(hnp.arrays(np.float64, x.shape, elements=reals))
    y[: len(y) // 3] = x[: len(y) // 3]  # ties
    qx, qy = quantize(x), quantize(y)
    sx, sy = cluster.share(x), cluster.share(y)
    lt = (sx < sy).reveal()
    assert lt.dtype == np.int64
    assert np.array_equal(lt, (qx < qy).astype(np.int64))
    assert np.array_equal((sx > sy).reveal(), (qx > qy).astype(np.int64))
    assert np.array_equal((sx <= sy).reveal(), (qx <= qy).astype(np.int64))
    assert np.array_equal((sx >= 0.5).reveal(), (qx >= 0.5).astype(np.int64))
    assert np.array_equal((qy < sx).reveal(), (qy < qx).astype(np.int64))  # numpy on the left
    assert np.array_equal((sx == sy).reveal(), (qx == qy).astype(np.int64))
    assert np.array_equal((sx != sy).reveal(), (qx != qy).astype(np.int64))
    assert np.array_equal((qy == sx).reveal(), (qy == qx).astype(np.int64))


def test_division_by_a_large_public_value_keeps_its_precision(cluster: InProcessCluster) -> None:
    """1/c keeps its significant bits for any c: the mean of 10^6 values was 1.3% off when
    1/c had only 4 of them (f + 8 fractional bits for c ~ 2^20)."""
    g = np.random.default_rng(11)
    x = g.uniform(0, 10, 1_000_000)
    q = quantize(x)
    sx = cluster.share(x)
    assert abs(float(sx.mean().reveal()) - q.mean()) <= division_bound(q.sum(), q.size)
    assert abs(float(sx.mean().reveal()) - q.mean()) <= 2 * ULP
    count = (sx < 5).mean()  # an integer sum over a count of 10^6
    want = np.mean(q < 5)
    assert abs(float(count.reveal()) - want) <= division_bound(np.sum(q < 5), q.size, integer=True)
    for c in (300.0, 2.0**20 + 1, 1e7):  # above 2^8, around and beyond 2^20
        small = g.uniform(-1000, 1000, 64)
        qs = quantize(small)
        got = (cluster.share(small) / c).reveal()
        assert np.all(np.abs(got - qs / c) <= division_bound(qs, c))


def test_division_at_the_top_of_its_range_does_not_wrap(cluster: InProcessCluster) -> None:
    """|x/c| just below 2^22 with 1/c rounding far up (2^24/c = 1.5) wrapped 13% of the
    results: 1/c is now rounded toward zero, so the product never leaves the range."""
    c = 2.0**24 / 1.5
    x = np.full(2000, np.rint(0.95 * 2**22 * c * 2**16) / 2**16)
    got = (cluster.share(x) / c).reveal()
    assert np.all(np.abs(got - x / c) <= division_bound(x, c))


def test_division_edge_cases_get_clear_answers(cluster: InProcessCluster) -> None:
    x = cluster.share([3.0, -6.0])
    for bad in (np.inf, np.nan, [2.0, np.inf]):
        with pytest.raises(ParameterError, match="NaN or infinity"):
            _ = x / bad
    assert (cluster.share(np.zeros((0,))) / np.zeros((0,)) + 1).reveal().shape == (0,)
    ints = cluster.share(np.array([3, -6]), integer=True)
    for c in (2.0**63, 1e30):  # a quotient far below one ulp: 0, not a refusal
        assert np.array_equal((ints / c).reveal(), [0.0, 0.0])


def test_reductions_of_a_0d_tensor_and_repeated_axes(cluster: InProcessCluster) -> None:
    s = cluster.share(3.0)
    assert float(s.sum(axis=0).reveal()) == 3.0  # numpy's 0-d axis: itself
    assert float(s.mean(axis=-1).reveal()) == 3.0
    with pytest.raises(ParameterError, match="repeats an axis"):
        cluster.share(np.ones((2, 2))).sum(axis=(0, 0))
    assert float((s + 1).reveal()) == 4.0  # the cluster is still up


def test_local_truncation_mean_is_not_zero() -> None:
    """In local mode 1/10^6 with f fractional bits encoded as 0: the mean came out 0."""
    x = np.random.default_rng(12).uniform(0, 10, 100_000)
    q = quantize(x)
    with InProcessCluster(parties=2, truncation="local", rng=SecureRandom.seeded(9)) as c:
        got = float(c.share(x).mean().reveal())
    assert abs(got - q.mean()) <= division_bound(q.sum(), q.size, guard=0) + ULP


def test_sum_mean_and_shapes(cluster: InProcessCluster) -> None:
    g = np.random.default_rng(3)
    x = g.uniform(-50, 50, (4, 5, 6))
    q = quantize(x)
    sx = cluster.share(x)
    assert np.array_equal(sx.sum().reveal(), q.sum())
    assert np.array_equal(sx.sum(axis=1).reveal(), q.sum(axis=1))
    assert np.array_equal(
        sx.sum(axis=(0, 2), keepdims=True).reveal(), q.sum(axis=(0, 2), keepdims=True)
    )
    mean = sx.mean(axis=2).reveal()
    assert np.all(np.abs(mean - q.mean(axis=2)) <= division_bound(q.sum(axis=2), 6))
    assert np.array_equal(sx.T.reveal(), q.T)
    assert np.array_equal(sx.reshape(20, 6).reveal(), q.reshape(20, 6))
    assert np.array_equal(sx[1:3, ::2, -1].reveal(), q[1:3, ::2, -1])
    assert np.array_equal(sx[None, 0].reveal(), q[None, 0])
    assert np.array_equal(concatenate([sx, sx], axis=1).reveal(), np.concatenate([q, q], axis=1))
    assert np.array_equal(stack([sx[0], sx[1]]).reveal(), np.stack([q[0], q[1]]))
    assert np.array_equal((sx**3)[0, 0].reveal().shape, (6,))


def test_integers_and_reals_mix(cluster: InProcessCluster) -> None:
    i = cluster.share([3, -4], integer=True)
    r = cluster.share([0.5, 0.25])
    assert i.is_integer
    assert i.reveal().dtype == np.int64
    assert np.array_equal((i + r).reveal(), [3.5, -3.75])
    assert np.array_equal((i * r).reveal(), [1.5, -1.0])  # no truncation: exact
    assert np.array_equal((i * i).reveal(), [9, 16])


def test_three_parties_exact_truncation(cluster3: InProcessCluster) -> None:
    g = np.random.default_rng(4)
    x, y = g.uniform(-100, 100, 500), g.uniform(-100, 100, 500)
    qx, qy = quantize(x), quantize(y)
    got = (cluster3.share(x) * cluster3.share(y)).reveal()
    assert np.array_equal(got, np.floor(qx * qy * 2**16) / 2**16)  # exactly the floor
    assert np.array_equal((cluster3.share(x) < cluster3.share(y)).reveal(), (qx < qy).astype(int))


def test_the_seed_example_on_three_workers(cluster3: InProcessCluster) -> None:
    x, y = cluster3.share([5], integer=True), cluster3.share([5], integer=True)
    assert (x + y).reveal().tolist() == [10]


def test_mul_costs_four_ring_elements_for_two_parties(cluster: InProcessCluster) -> None:
    cluster.reset_costs()
    m = 1000
    a = cluster.share(np.arange(m), integer=True)
    b = cluster.share(np.arange(m), integer=True)
    _ = a * b  # integers: the Beaver product alone, no truncation
    row = cluster.cost_report()["mul"]
    assert row.bytes_sent == 4 * 8 * m
    assert row.rounds == 1
    assert row.elements == m
    assert row.dealer_bytes == 8 * m  # one correction element per product, to one party
    with InProcessCluster(parties=2, truncation="local") as local:
        x, y = local.share(np.ones(m)), local.share(np.ones(m))
        _ = x * y  # fixed point with SecureML truncation: still 4 elements, 1 round
        row = local.cost_report()["mul"]
        assert row.bytes_per_element == 32
        assert row.rounds == 1


def test_costs_are_reported_per_operation(cluster: InProcessCluster) -> None:
    cluster.reset_costs()
    x = cluster.share(np.ones(100))
    _ = (x * x, x < 0.5, x.sum())
    report = cluster.cost_report()
    assert {"share", "mul", "lt", "sum"} <= set(report)
    assert report["lt"].rounds == 8
    assert report["mul"].rounds == 2
    assert report["sum"].bytes_sent == 0
    assert report["sum"].rounds == 0
    assert report.total.bytes_sent == sum(report[op].bytes_sent for op in report)
    assert "lt" in report.table()
    assert report.to_dict()["mul"]["elements"] == 100


def test_a_result_reaches_only_its_client(cluster: InProcessCluster) -> None:
    x = np.linspace(-3, 3, 100)
    bob = cluster.client_stats("bob").snapshot()
    driver = cluster.client_stats("driver").snapshot()
    sx = cluster.share(x, owner="bob")
    out = (sx * 2).reveal(to="bob")
    assert np.array_equal(out, 2 * quantize(x))
    bob2 = cluster.client_stats("bob").snapshot()
    driver2 = cluster.client_stats("driver").snapshot()
    # one share per party, each with its 8-byte encoding word
    assert bob2["bytes_sent"] - bob["bytes_sent"] == 2 * (8 * 100 + 8)
    assert bob2["bytes_received"] - bob["bytes_received"] == 2 * (8 * 100 + 8)
    assert driver2["bytes_received"] - driver["bytes_received"] < 2000  # acks only, no share
    with pytest.raises(ParameterError, match="unknown client 'eve'"):
        sx.reveal(to="eve")


def test_overflowing_input_is_refused_and_the_cluster_survives(cluster: InProcessCluster) -> None:
    with pytest.raises(ParameterError, match="representable range"):
        cluster.share([1.0, 1e18])
    with pytest.raises(ParameterError, match="representable range"):
        cluster.share([1.0]) * 1e15
    assert (cluster.share([1.0]) + 1).reveal().tolist() == [2.0]


def test_misuse_is_refused(cluster: InProcessCluster) -> None:
    x = cluster.share([1.0, 2.0])
    with pytest.raises(ParameterTypeError, match="truth value"):
        bool(x < 2)
    with pytest.raises(ParameterTypeError):
        np.asarray(x)
    with pytest.raises(ParameterTypeError):
        pickle.dumps(x)
    with pytest.raises(ParameterError, match="broadcast"):
        _ = x + cluster.share([1.0, 2.0, 3.0])
    with pytest.raises(ParameterError, match="public zero"):
        _ = x / 0
    with pytest.raises(ParameterError, match="integer powers"):
        _ = x**0.5
    r = repr(x)
    assert r == "SharedTensor(shape=(2,), fixed<16>, parties=2)"
    with (
        InProcessCluster(parties=2) as other,
        pytest.raises(ParameterError, match="different clusters"),
    ):
        _ = x + other.share([1.0, 2.0])


def test_a_party_failure_is_reported_and_stops_the_cluster() -> None:
    with InProcessCluster(parties=2, timeout=5) as c:
        c.share([1.0])
        with pytest.raises(ProtocolError, match="unknown register 12345"):
            c.driver._exec("add", {"out": 999, "x": 12345, "y": 0})
        with pytest.raises(ProtocolError, match="failed earlier"):
            c.share([1.0])


def test_a_fresh_cluster_per_test_is_cheap_and_closes() -> None:
    c = InProcessCluster(parties=4)
    assert c.parties == 4
    assert c.truncation == "dealer"
    assert (c.share([2.0]) * c.share([3.0])).reveal().tolist() == [6.0]
    c.close()
    c.close()  # idempotent
    with pytest.raises(ProtocolError, match="closed"):
        c.share([1.0])


def test_bad_cluster_arguments() -> None:
    with pytest.raises(ParameterError):
        InProcessCluster(parties=1)
    with pytest.raises(ParameterError, match="2 parties only"):
        InProcessCluster(parties=3, truncation="local")
    with pytest.raises(ParameterError, match="distinct"):
        InProcessCluster(parties=2, clients=("bob", "bob"))


def test_shared_tensor_is_a_handle(cluster: InProcessCluster) -> None:
    x = cluster.share(np.zeros((2, 3)))
    assert isinstance(x, SharedTensor)
    assert x.shape == (2, 3)
    assert x.ndim == 2
    assert x.size == 6
    assert len(x) == 2
    assert x in {x}  # hashes by identity; == compares elements
    assert x in [x]
    with pytest.raises(ParameterTypeError, match="no truth value"):
        bool(x == cluster.share(np.zeros((2, 3))))
    assert (x == None) is False  # noqa: E711 - not a comparison of elements, as for numpy
    assert (x != "a") is True
    assert x not in [None, "a"]  # and no secure comparison is run for them


def test_a_comparison_times_a_value(cluster: InProcessCluster) -> None:
    x = np.array([-2.0, -0.5, 0.0, 0.75, 4.0])
    y = np.array([1.5, -3.0, 2.0, 5.0, -1.25])
    sx, sy = cluster.share(x), cluster.share(y)
    got = ltz(sx, times=sy)
    assert got.frac_bits == sy.frac_bits
    assert np.array_equal(got.reveal(), np.where(x < 0, y, 0.0))
    with pytest.raises(ParameterError, match=r"needs the shape \(5,\)"):
        ltz(sx, times=cluster.share(np.ones(4)))
    with InProcessCluster(parties=2) as other, pytest.raises(ParameterError, match="different"):
        ltz(sx, times=other.share(y))


def test_take_gathers_along_the_last_axis(cluster: InProcessCluster) -> None:
    x = np.arange(12.0).reshape(3, 4)
    sx = cluster.share(x)
    assert np.array_equal(take(sx, [3, 0, 0]).reveal(), x[:, [3, 0, 0]])
    for bad in ([], [4], [-1]):
        with pytest.raises(ParameterError, match=r"take needs indices in \[0, 4\)"):
            take(sx, bad)


# -- numpy semantics at the edges (each case was once wrong or crashed the cluster) ----------


def test_comparisons_on_0d_tensors_work(cluster: InProcessCluster) -> None:
    from privet.smpc import exp, maximum, relu, sign

    v = cluster.share([1.0, 2.0])
    s = v.sum()
    assert (s < 2).reveal() == 0
    assert (s > 2).reveal() == 1
    assert (s < 2).shape == ()
    assert relu(v[0] - 3).reveal() == 0.0
    assert maximum(v[0], 4).reveal() == 4.0
    assert sign(v[0] - 3).reveal() == -1
    assert abs(float(exp(s).reveal()) - np.exp(3.0)) < 1e-2
    assert (cluster.share(2.5) < 3).reveal() == 1
    assert (s / v[1]).shape == ()
    assert (v[0] < 5).reveal() == 1  # the cluster is still usable


def test_unsigned_and_bool_public_operands_follow_numpy(cluster: InProcessCluster) -> None:
    from privet.smpc import maximum

    x = cluster.share([1.0, 5.0])
    assert np.array_equal((x - np.uint8(3)).reveal(), [-2.0, 2.0])
    assert np.array_equal((x >= np.uint8(3)).reveal(), [0, 1])
    assert np.array_equal((x == np.uint8(5)).reveal(), [0, 1])
    assert np.array_equal(maximum(x, np.uint8(3)).reveal(), [3.0, 5.0])
    assert np.array_equal((x < np.array([3, 3], dtype=np.uint8)).reveal(), [1, 0])
    assert np.array_equal((x - True).reveal(), [0.0, 4.0])
    s = cluster.share([[100.0, 100.0]])
    got = (s - np.array([[10, 200]], dtype=np.uint8)).reveal()
    assert np.array_equal(got, [[90.0, -100.0]])
    with pytest.raises(ParameterError, match="representable range"):
        _ = x * np.uint64(2**64 - 1)


def test_max_and_argmax_take_none_tuples_and_numpy_axes(cluster: InProcessCluster) -> None:
    from privet.smpc import argmax
    from privet.smpc import max as smax

    a = np.array([[1.5, -2.0, 3.0], [0.25, 4.0, -1.0]])
    x = cluster.share(a)
    assert argmax(x, axis=None).reveal() == 4
    assert smax(x, axis=None).reveal() == 4.0
    assert smax(x, axis=(0, 1)).reveal() == 4.0
    assert np.array_equal(argmax(x, axis=None, keepdims=True).reveal(), [[4]])
    assert np.array_equal(smax(x, axis=np.int64(1), keepdims=True).reveal(), [[3.0], [4.0]])
    b = np.random.default_rng(0).uniform(-5, 5, size=(2, 3, 4))
    y = cluster.share(b)
    assert np.max(np.abs(smax(y, axis=(0, 2)).reveal() - b.max(axis=(0, 2)))) <= ULP
    assert smax(y, axis=(2, 0), keepdims=True).shape == (1, 3, 1)
    assert argmax(y, axis=None).reveal() == b.argmax()
    with pytest.raises(ParameterError, match="one axis or None"):
        argmax(x, axis=(0, 1))


def test_more_numpy_operators(cluster: InProcessCluster) -> None:
    from privet.smpc import softmax

    x = cluster.share([[2.0, -4.0], [0.5, 8.0]])
    assert np.array_equal(abs(x).reveal(), [[2.0, 4.0], [0.5, 8.0]])
    inv = (1 / x).reveal()
    assert np.max(np.abs(inv - 1 / np.array([[2.0, -4.0], [0.5, 8.0]]))) <= 1e-3
    assert x.transpose(-1, 0).shape == (2, 2)
    assert np.array_equal(x.transpose(-1, -2).reveal(), [[2.0, 0.5], [-4.0, 8.0]])
    assert x.sum(axis=np.int64(1)).shape == (2,)
    p = softmax(x, axis=None).reveal()
    assert p.shape == (2, 2)
    assert abs(p.sum() - 1.0) < 1e-3
    with pytest.raises(ParameterError, match="one axis or None"):
        softmax(x, axis=(0, 1))  # type: ignore[arg-type]


def test_share_accepts_torch_tensors_and_checks_integers(cluster: InProcessCluster) -> None:
    torch = pytest.importorskip("torch")
    t = torch.tensor([1.5, -2.0], requires_grad=True)
    assert np.array_equal(cluster.share(t).reveal(), [1.5, -2.0])
    with pytest.raises(ParameterError, match="whole numbers; 2 value"):
        cluster.share([1.7, -2.5, 3.0], integer=True)
    assert np.array_equal(cluster.share([1.0, -2.0], integer=True).reveal(), [1, -2])


def test_min_argmin_and_the_numpy_style_methods(cluster: InProcessCluster) -> None:
    from privet.smpc import argmin, minimum
    from privet.smpc import min as smin

    a = np.array([[1.5, -2.0, 3.0, -2.0], [0.25, 4.0, -1.0, 0.25]])
    x = cluster.share(a)
    assert x.max().reveal() == 4.0  # numpy's default: over everything
    assert x.min().reveal() == -2.0
    assert x.argmax().reveal() == 5
    assert x.argmin().reveal() == 1  # the first of the ties, as numpy
    assert np.array_equal(x.max(axis=0).reveal(), a.max(axis=0))
    assert np.array_equal(smin(x).reveal(), a.min(axis=-1))
    assert np.array_equal(argmin(x, axis=1).reveal(), a.argmin(axis=1))
    assert np.array_equal(x.min(axis=1, keepdims=True).reveal(), a.min(axis=1, keepdims=True))
    assert np.array_equal(minimum(x, 0.5).reveal(), np.minimum(a, 0.5))
    assert np.array_equal(minimum(x, x[::-1]).reveal(), np.minimum(a, a[::-1]))
    assert np.array_equal(minimum(x, np.uint8(1)).reveal(), np.minimum(a, 1))


def test_comparisons_hold_across_the_whole_storage_range(
    cluster: InProcessCluster,
) -> None:
    """Any two values inside the storage range |x| < 2^(62-f) compare right: their
    difference, up to 2^(63-f), is read in two's complement (it needed 2^(62-f))."""
    step = 2.0**-6  # float64's spacing at 2^46
    edge = 2.0 ** (62 - 16) - step
    x = np.array([edge, -edge, edge, 0.0, -edge, edge, -edge, 3.0])
    y = np.array([-edge, edge, edge - step, -edge, 0.0, edge, -edge + step, -edge])
    sx, sy = cluster.share(x), cluster.share(y)
    assert np.array_equal((sx < sy).reveal(), (x < y).astype(np.float64))
    assert np.array_equal((sx >= sy).reveal(), (x >= y).astype(np.float64))
    assert np.array_equal((sx == sy).reveal(), (x == y).astype(np.float64))
    from privet.smpc import argmax, maximum

    assert np.array_equal(maximum(sx, sy).reveal(), np.maximum(x, y))
    both = np.stack([x, y], axis=1)
    assert np.array_equal(argmax(cluster.share(both), axis=1).reveal(), both.argmax(axis=1))
