"""Contracts of privet.core.random: API, validation, seeded mode, secrecy of the key."""

from __future__ import annotations

import copy
import pickle
import threading
from fractions import Fraction

import numpy as np
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

import privet.core
from privet.core import SecureRandom, resolve_rng
from privet.core import random as prandom
from privet.errors import (
    InsecureRandomWarning,
    ParameterError,
    ParameterTypeError,
    PrivetError,
    SecurityError,
)

RNG = SecureRandom.seeded(20240601)


# -- exported names -------------------------------------------------------------------------


def test_exported_names_are_pinned() -> None:
    assert privet.core.__all__ == ["SecureRandom", "Size", "resolve_rng"]
    assert prandom.__all__ == ["SecureRandom", "Size", "resolve_rng"]
    for name in privet.core.__all__:
        assert getattr(privet.core, name) is getattr(prandom, name)


# -- secure by default, seeded on request ---------------------------------------------------


def test_default_generator_is_secure() -> None:
    rng = SecureRandom()
    assert rng.is_secure is True
    assert repr(rng) == "SecureRandom(AES-256-CTR, secure)"


def test_seeded_generator_warns_and_says_it_is_insecure() -> None:
    with pytest.warns(InsecureRandomWarning, match="tests only"):
        rng = SecureRandom.seeded(1)
    assert rng.is_secure is False
    assert "INSECURE" in repr(rng)


def test_repr_shows_no_key_or_seed() -> None:
    seed = 987654321987654321
    rng = SecureRandom.seeded(seed)
    text = repr(rng) + str(rng)
    assert str(seed) not in text
    assert hex(seed)[2:] not in text
    # No attribute holds raw key material: the key lives only inside the cipher context.
    for name in SecureRandom.__slots__:
        value = getattr(rng, name, None)
        assert not isinstance(value, bytes | bytearray), name


def test_seeded_stream_is_aes256_ctr_keyed_by_hkdf() -> None:
    # An independent construction of the documented stream, and a pinned known answer.
    okm = HKDF(
        algorithm=hashes.SHA256(),
        length=48,
        salt=b"privet.core.random/seeded",
        info=b"AES-256-CTR key and initial counter, v1",
    ).derive(b"int:\x00")
    enc = Cipher(algorithms.AES(okm[:32]), modes.CTR(okm[32:])).encryptor()
    expected = enc.update(bytes(1000))
    assert SecureRandom.seeded(0).bytes(1000) == expected
    assert expected[:16].hex() == "866f83ad071dd04bf654495fa2a2abf5"


def test_seeded_is_deterministic_for_every_method() -> None:
    def draws(rng: SecureRandom) -> list[object]:
        return [
            rng.bytes(33),
            rng.uint64(5).tolist(),
            rng.integers(7, low=-3, high=1000).tolist(),
            rng.random(4).tolist(),
            rng.bits(13).tolist(),
            rng.bernoulli(9, p=0.3).tolist(),
            rng.normal(3).tolist(),
            rng.bernoulli_exp(6, numerator=3, denominator=2).tolist(),
            rng.discrete_laplace(8, scale=Fraction(5, 3)).tolist(),
            rng.discrete_gaussian(8, sigma_squared=Fraction(7, 2)).tolist(),
        ]

    assert draws(SecureRandom.seeded(11)) == draws(SecureRandom.seeded(11))
    assert draws(SecureRandom.seeded(11)) != draws(SecureRandom.seeded(12))
    assert SecureRandom.seeded(b"\x0b").bytes(32) != SecureRandom.seeded(11).bytes(32)


def test_fresh_secure_generators_differ() -> None:
    outs = {SecureRandom().bytes(32) for _ in range(16)}
    assert len(outs) == 16
    rng = SecureRandom()
    assert rng.bytes(32) != rng.bytes(32)


@pytest.mark.parametrize("seed", [-1, 1.5, "seed", None, True])
def test_bad_seed_is_refused(seed: object) -> None:
    with pytest.raises(PrivetError):
        SecureRandom.seeded(seed)  # type: ignore[arg-type]


def test_generator_cannot_be_pickled_or_copied() -> None:
    rng = SecureRandom()
    with pytest.raises(SecurityError, match="repeat"):
        pickle.dumps(rng)
    with pytest.raises(SecurityError):
        copy.copy(rng)
    with pytest.raises(SecurityError):
        copy.deepcopy(rng)


def test_numpy_global_rng_is_never_touched() -> None:
    before = np.random.get_state(legacy=False)
    rng = SecureRandom()
    rng.normal(100)
    rng.discrete_gaussian(100, sigma_squared=3)
    rng.integers(100, low=0, high=3)
    after = np.random.get_state(legacy=False)
    assert np.array_equal(before["state"]["key"], after["state"]["key"])
    assert before["state"]["pos"] == after["state"]["pos"]


def test_threads_share_one_generator_without_repeats() -> None:
    rng = SecureRandom()
    chunks: list[bytes] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(50):
            b = rng.bytes(64)
            with lock:
                chunks.append(b)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(set(chunks)) == len(chunks) == 200


# -- resolve_rng ----------------------------------------------------------------------------


def test_resolve_rng() -> None:
    rng = SecureRandom()
    assert resolve_rng(rng) is rng
    fresh = resolve_rng(None)
    assert fresh.is_secure
    assert resolve_rng(None) is not fresh  # no global singleton
    with pytest.raises(ParameterTypeError, match="Generator"):
        resolve_rng(np.random.default_rng())  # type: ignore[arg-type]


# -- shapes and raw bytes -------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 7, (2, 3), (0, 4), ()])
def test_shapes(size: int | tuple[int, ...]) -> None:
    shape = (size,) if isinstance(size, int) else size
    assert RNG.uint64(size).shape == shape
    assert RNG.uint64(size).dtype == np.uint64
    assert RNG.random(size).shape == shape
    assert RNG.bits(size).shape == shape
    assert RNG.integers(size, low=0, high=3).shape == shape
    assert RNG.bernoulli(size, p=0.5).dtype == np.bool_
    assert RNG.normal(size).shape == shape
    assert RNG.bernoulli_exp(size, numerator=1, denominator=3).shape == shape
    assert RNG.discrete_laplace(size, scale=2).shape == shape
    assert RNG.discrete_gaussian(size, sigma_squared=2).shape == shape


@pytest.mark.parametrize("size", [-1, (3, -2)])
def test_negative_size_is_a_parameter_error(size: object) -> None:
    with pytest.raises(ParameterError, match="size"):
        RNG.uint64(size)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [2.0, "3", None, True, (2, 1.5)])
def test_non_integer_size_is_a_type_error(size: object) -> None:
    with pytest.raises(ParameterTypeError, match="size"):
        RNG.random(size)  # type: ignore[arg-type]


def test_bytes() -> None:
    assert RNG.bytes(0) == b""
    out = RNG.bytes(3 * (1 << 20) + 5)  # crosses the internal chunk size
    assert len(out) == 3 * (1 << 20) + 5
    assert isinstance(out, bytes)
    with pytest.raises(ParameterError):
        RNG.bytes(-1)


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.int16, np.uint32, np.int64, np.float64, np.complex128]
)
def test_fill_overwrites_in_place(dtype: type) -> None:
    a: np.ndarray = np.zeros((64, 3), dtype=dtype)
    RNG.fill(a)
    assert a.any()
    b: np.ndarray = np.zeros((0,), dtype=dtype)
    RNG.fill(b)  # empty is fine


def test_fill_refuses_bad_arrays() -> None:
    ro = np.zeros(8, dtype=np.uint8)
    ro.setflags(write=False)
    with pytest.raises(ParameterError, match="read-only"):
        RNG.fill(ro)
    with pytest.raises(ParameterError, match="C-contiguous"):
        RNG.fill(np.zeros((4, 4), dtype=np.uint8)[:, 1])
    with pytest.raises(ParameterTypeError, match="object"):
        RNG.fill(np.zeros(3, dtype=object))
    with pytest.raises(ParameterTypeError, match="bool"):
        RNG.fill(np.zeros(3, dtype=bool))
    with pytest.raises(ParameterTypeError, match="ndarray"):
        RNG.fill(bytearray(8))  # type: ignore[arg-type]


# -- integers -------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    low=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    width=st.integers(min_value=1, max_value=2**64),
    n=st.integers(min_value=0, max_value=40),
)
def test_integers_always_in_range(low: int, width: int, n: int) -> None:
    high = min(low + width, 2**63)
    x = RNG.integers(n, low=low, high=high)
    assert x.dtype == np.int64
    assert all(low <= int(v) < high for v in x)


def test_integers_edges() -> None:
    assert RNG.integers(5, low=4, high=5).tolist() == [4] * 5
    full = RNG.integers(1000, low=-(2**63), high=2**63)
    assert full.dtype == np.int64
    assert (full < 0).any()
    assert (full > 0).any()


@pytest.mark.parametrize(
    ("low", "high", "exc"),
    [
        (3, 3, ParameterError),
        (5, 2, ParameterError),
        (0, 2**63 + 1, ParameterError),
        (-(2**63) - 1, 0, ParameterError),
        (0.0, 3, ParameterTypeError),
        (0, "9", ParameterTypeError),
        (False, 3, ParameterTypeError),
    ],
)
def test_integers_bad_bounds(low: object, high: object, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        RNG.integers(3, low=low, high=high)  # type: ignore[arg-type]


def test_integers_error_names_the_values() -> None:
    with pytest.raises(ParameterError, match=r"low=5, high=2"):
        RNG.integers(1, low=5, high=2)


# -- floats, bits, bernoulli ----------------------------------------------------------------


def test_random_has_53_bits() -> None:
    u = RNG.random(10_000)
    assert ((u >= 0) & (u < 1)).all()
    k = u * 2.0**53
    assert (k == np.floor(k)).all()
    assert (k % 2 == 1).any()  # the lowest of the 53 bits is used


def test_bits_are_zero_or_one() -> None:
    b = RNG.bits(1001)
    assert b.dtype == np.uint8
    assert set(np.unique(b).tolist()) == {0, 1}


def test_bernoulli_ends_and_exact_parameters() -> None:
    assert not RNG.bernoulli(100, p=0.0).any()
    assert RNG.bernoulli(100, p=1).all()
    assert RNG.bernoulli(100, p=Fraction(1, 1)).all()
    x = RNG.bernoulli(1000, p=Fraction(1, 3))
    assert 0 < x.sum() < 1000
    x = RNG.bernoulli(10, p=np.float32(0.25))  # type: ignore[arg-type]
    assert x.dtype == np.bool_


@pytest.mark.parametrize(
    ("p", "exc"),
    [
        (-0.1, ParameterError),
        (1.5, ParameterError),
        (float("nan"), ParameterError),
        (float("inf"), ParameterError),
        ("0.5", ParameterTypeError),
        (None, ParameterTypeError),
        (True, ParameterTypeError),
    ],
)
def test_bernoulli_bad_p(p: object, exc: type[Exception]) -> None:
    with pytest.raises(exc, match="p"):
        RNG.bernoulli(3, p=p)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [
        ({"scale": 0.0}, ParameterError),
        ({"scale": -1.0}, ParameterError),
        ({"scale": float("nan")}, ParameterError),
        ({"loc": float("nan")}, ParameterError),
        ({"loc": float("inf")}, ParameterError),
        ({"loc": "0"}, ParameterTypeError),
    ],
)
def test_normal_bad_parameters(kwargs: dict[str, object], exc: type[Exception]) -> None:
    with pytest.raises(exc):
        RNG.normal(3, **kwargs)  # type: ignore[arg-type]


def test_normal_loc_scale() -> None:
    z = RNG.normal(20_000, loc=10.0, scale=0.01)
    assert abs(z.mean() - 10.0) < 0.01
    assert np.isfinite(z).all()


# -- exact DP samplers: validation ----------------------------------------------------------


def test_bernoulli_exp_ends() -> None:
    assert RNG.bernoulli_exp(50, numerator=0, denominator=7).all()
    # γ = 10**30: the exact sampler stops at the first failed Bernoulli(exp(-1)).
    assert not RNG.bernoulli_exp(50, numerator=10**30, denominator=1).any()


@pytest.mark.parametrize(
    ("num", "den", "exc"),
    [
        (-1, 2, ParameterError),
        (1, 0, ParameterError),
        (1, 2**64, ParameterError),
        (1.0, 2, ParameterTypeError),
        (1, Fraction(1, 2), ParameterTypeError),
    ],
)
def test_bernoulli_exp_bad_parameters(num: object, den: object, exc: type[Exception]) -> None:
    with pytest.raises(exc):
        RNG.bernoulli_exp(3, numerator=num, denominator=den)  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["discrete_laplace", "discrete_gaussian"])
@pytest.mark.parametrize(
    ("value", "exc", "match"),
    [
        (0, ParameterError, "> 0"),
        (-3, ParameterError, "> 0"),
        (Fraction(-1, 2), ParameterError, "> 0"),
        (1.5, ParameterTypeError, "Fraction"),
        (float("nan"), ParameterTypeError, "Fraction"),
        ("2", ParameterTypeError, "Fraction"),
        (True, ParameterTypeError, "Fraction"),
        (Fraction(0.1), ParameterError, "smaller"),
    ],
)
def test_exact_samplers_bad_parameters(
    method: str, value: object, exc: type[Exception], match: str
) -> None:
    key = "scale" if method == "discrete_laplace" else "sigma_squared"
    with pytest.raises(exc, match=match):
        getattr(RNG, method)(3, **{key: value})


def test_discrete_gaussian_refuses_overflowing_sigma() -> None:
    with pytest.raises(ParameterError, match="2\\*\\*61"):
        RNG.discrete_gaussian(3, sigma_squared=10**12)
    assert RNG.discrete_gaussian(3, sigma_squared=10**9).shape == (3,)


def test_discrete_laplace_accepts_large_and_small_scales() -> None:
    assert RNG.discrete_laplace(100, scale=2**48).dtype == np.int64
    tiny = RNG.discrete_laplace(1000, scale=Fraction(1, 2**40))
    assert (tiny == 0).all()  # P(z != 0) ≈ 2·exp(-2**40)
    with pytest.raises(ParameterError, match="2\\*\\*48"):
        RNG.discrete_laplace(1, scale=2**48 + 1)


def test_errors_subclass_privet_error() -> None:
    for call in (
        lambda: RNG.uint64(-1),
        lambda: RNG.bernoulli(1, p=2.0),
        lambda: RNG.discrete_laplace(1, scale=0.5),  # type: ignore[arg-type]
        lambda: RNG.fill(np.zeros(2, dtype=bool)),
    ):
        with pytest.raises(PrivetError):
            call()
