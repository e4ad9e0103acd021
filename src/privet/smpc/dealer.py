"""The dealer ("crypto provider"): correlated randomness, compressed to PRG seeds.

The dealer sees no input and no share of one; it hands the parties correlated randomness:
Beaver triples ``(a, b, c = op(a, b))`` (Beaver 1991, "Efficient multiparty protocols using
circuit randomization", CRYPTO '91, §2), square pairs ``(a, a²)``, binary AND triples, masks
for truncation and comparison, and daBits (a random bit shared both additively and by XOR).

**Seed compression.** At set-up the dealer gives party ``i`` a secret 32-byte seed ``s_i``
(from :class:`~privet.core.random.SecureRandom`). For each request every party expands its
seed with AES-256-CTR (:class:`SeedPRG`, keyed by ``s_i``, counter block = request nonce), and
the dealer, who knows every seed, expands them too. A *random* field (``a``, ``b``, the mask
``r``) is then the sum (or XOR) of what the parties draw; nothing is sent. A *derived* field
(``c = op(a, b)``, ``r >> m`` …) is drawn from the PRG by parties ``0..n-2``, and the last
party receives its share as a correction ``c - Σ_{i<n-1} c_i``: per Beaver multiplication of
``k`` outputs the dealer sends ``k`` ring elements, to one party only. (The same compression
as CrypTen's trusted-first-party provider; Knott et al. 2021, "CrypTen: secure multi-party
computation meets machine learning", NeurIPS 2021.)

Both sides consume the fields of a :class:`Recipe` in the same order, so a plan
(``list[Recipe]``) computed from the public instruction fixes what is drawn.

Examples
--------
>>> import numpy as np
>>> prg = SeedPRG(bytes(32))
>>> bool((prg.words(7, (3,)) == SeedPRG(bytes(32)).words(7, (3,))).all())
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from privet.core.channel import Channel, expect_arrays
from privet.core.errors import ParameterError, ProtocolError
from privet.core.random import SecureRandom
from privet.smpc.bitplanes import from_plane, plane_words, to_planes
from privet.smpc.ring import Ring, add, bilinear, mul, output_shape, sub, xor_all

__all__ = [
    "SEED_BYTES",
    "Dealer",
    "Field",
    "MaterialSource",
    "Recipe",
    "SeedPRG",
    "and_triples",
    "dabits",
    "square_pairs",
    "triples",
    "wrap_masks",
]

SEED_BYTES: Final = 32
_MASK64: Final = (1 << 64) - 1
_CHUNK: Final = 1 << 18
_ZEROS: Final = memoryview(bytes(_CHUNK))
U64: Final = np.uint64


class SeedPRG:
    """A PRG: AES-256-CTR keyed by a secret seed, one keystream per 64-bit nonce.

    The 128-bit counter block starts at ``nonce * 2^64``, so two nonces never share a block
    (each stream is at most 2^64 blocks). The seed is not kept as an attribute and never
    shown.

    Parameters
    ----------
    seed
        32 secret bytes, from a :class:`~privet.core.random.SecureRandom`.

    Examples
    --------
    >>> SeedPRG(bytes(32)).words(0, (2, 2)).shape
    (2, 2)
    """

    __slots__ = ("_aes",)

    def __init__(self, seed: bytes) -> None:
        if not isinstance(seed, bytes) or len(seed) != SEED_BYTES:
            raise ParameterError(f"a PRG seed must be {SEED_BYTES} bytes from SecureRandom")
        self._aes = algorithms.AES(seed)

    def words(self, nonce: int, shape: tuple[int, ...]) -> Ring:
        """Return uniform ``uint64`` words of ``shape`` from the stream ``nonce``."""
        if not 0 <= nonce <= _MASK64:
            raise ParameterError(f"nonce must be in [0, 2^64), got {nonce}")
        out = np.empty(shape, dtype=U64)
        if out.size:
            enc = Cipher(self._aes, modes.CTR((nonce << 64).to_bytes(16, "big"))).encryptor()
            view = out.reshape(-1).view(np.uint8).data
            n = len(view)
            for off in range(0, n, _CHUNK):  # a small zero buffer stays in cache: ~3x faster
                k = min(_CHUNK, n - off)
                enc.update_into(_ZEROS[:k], view[off : off + k])
        return out

    def __repr__(self) -> str:
        return "SeedPRG(AES-256-CTR, seed hidden)"

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise ProtocolError("a SeedPRG holds a secret seed and cannot be pickled")


@dataclass(frozen=True)
class Field:
    """One field of correlated randomness.

    Attributes
    ----------
    name
        Its name in the recipe (``a``, ``c``, ``r_hi`` …).
    shape
        Its shape.
    kind
        ``"arith"`` (additive shares mod 2^64) or ``"xor"`` (XOR shares of words).
    derived
        ``False``: a random field, the sum/XOR of what every party draws. ``True``: computed
        by the dealer; the last party gets a correction.
    """

    name: str
    shape: tuple[int, ...]
    kind: Literal["arith", "xor"]
    derived: bool


Derive = Callable[[Mapping[str, Ring], SecureRandom], dict[str, Ring]]


@dataclass(frozen=True)
class Recipe:
    """A request for correlated randomness: its fields, and how derived ones are computed.

    ``derive(random_values, dealer_rng)`` maps the reconstructed random fields to the
    derived ones (run by the dealer only).
    """

    name: str
    fields: tuple[Field, ...]
    derive: Derive


def triples(
    kind: str, x_shape: tuple[int, ...], y_shape: tuple[int, ...], params: Mapping[str, Any]
) -> Recipe:
    """Beaver triples for the bilinear map ``kind``: ``a``, ``b`` random, ``c = op(a, b)``."""
    out = output_shape(kind, x_shape, y_shape, params)
    frozen = dict(params)

    def derive(v: Mapping[str, Ring], _: SecureRandom) -> dict[str, Ring]:
        return {"c": bilinear(kind, v["a"], v["b"], frozen)}

    return Recipe(
        f"triple/{kind}",
        (
            Field("a", x_shape, "arith", False),
            Field("b", y_shape, "arith", False),
            Field("c", out, "arith", True),
        ),
        derive,
    )


def square_pairs(shape: tuple[int, ...]) -> Recipe:
    """Square pairs: ``a`` random, ``c = a * a``."""

    def derive(v: Mapping[str, Ring], _: SecureRandom) -> dict[str, Ring]:
        return {"c": mul(v["a"], v["a"])}

    return Recipe(
        "square", (Field("a", shape, "arith", False), Field("c", shape, "arith", True)), derive
    )


def and_triples(shape: tuple[int, ...]) -> Recipe:
    """Binary triples on 64-bit words: ``a``, ``b`` random, ``c = a & b`` (XOR-shared)."""

    def derive(v: Mapping[str, Ring], _: SecureRandom) -> dict[str, Ring]:
        return {"c": np.bitwise_and(v["a"], v["b"])}

    return Recipe(
        "and",
        (
            Field("a", shape, "xor", False),
            Field("b", shape, "xor", False),
            Field("c", shape, "xor", True),
        ),
        derive,
    )


def dabits(shape: tuple[int, ...], *, packed: bool = False) -> Recipe:
    """daBits: a random bit ``β`` XOR-shared in ``bx``; ``ba`` its additive sharing.

    ``β`` is the lsb of the word ``bx`` (``bx`` of ``shape``), or, when ``packed``, one bit
    of the plane ``bx`` (``⌈n/64⌉`` words, bit ``j`` for element ``j``; see
    :mod:`~privet.smpc.bitplanes`): the same random bits, drawn and opened 64 to a word.
    """
    n = int(np.prod(shape, dtype=np.int64))

    def derive(v: Mapping[str, Ring], _: SecureRandom) -> dict[str, Ring]:
        if packed:
            return {"ba": from_plane(v["bx"], n).reshape(shape)}
        return {"ba": np.bitwise_and(v["bx"], U64(1))}

    bx = Field("bx", (plane_words(n),) if packed else shape, "xor", False)
    return Recipe("dabit", (bx, Field("ba", shape, "arith", True)), derive)


def wrap_masks(
    shape: tuple[int, ...], bits: int, *, with_low_bits: bool, planes: bool = False
) -> Recipe:
    """Return masks for truncation by ``bits``.

    ``r`` random; ``r >> bits``, ``r >> 63`` additively shared; and, when
    ``with_low_bits``, ``r mod 2^bits`` XOR-shared (the edaBit of Escudero et al. 2020,
    CRYPTO, §3, restricted to the low ``bits`` bits) in ``r_lo``: one word per element, or,
    when ``planes``, transposed into ``bits`` bit planes of ``⌈n/64⌉`` words
    (:func:`~privet.smpc.bitplanes.to_planes`; the dealer transposes once, so the parties
    need not). A fixed bit permutation of a uniformly XOR-shared value is again one: each
    party's view is the same as in word layout.
    """
    if not 1 <= bits <= 62:
        raise ParameterError(f"truncation bits must be in 1..62, got {bits}")
    low = U64((1 << bits) - 1)

    def derive(v: Mapping[str, Ring], _: SecureRandom) -> dict[str, Ring]:
        r = v["r"]
        out = {"r_hi": np.right_shift(r, U64(bits)), "r_msb": np.right_shift(r, U64(63))}
        if with_low_bits:
            lo = np.bitwise_and(r, low)
            out["r_lo"] = to_planes(lo, bits) if planes else lo
        return out

    fields = [
        Field("r", shape, "arith", False),
        Field("r_hi", shape, "arith", True),
        Field("r_msb", shape, "arith", True),
    ]
    if with_low_bits:
        n = int(np.prod(shape, dtype=np.int64))
        lo_shape = (bits, plane_words(n)) if planes else shape
        fields.append(Field("r_lo", lo_shape, "xor", True))
    return Recipe(f"wrap/{bits}", tuple(fields), derive)


def _nonce(seq: int, k: int) -> int:
    if not (0 <= seq < 1 << 48 and 0 <= k < 1 << 16):
        raise ProtocolError(f"instruction {seq} / request {k} is out of the nonce space")
    return (seq << 16) | k


def _tag(seq: int, k: int) -> str:
    return f"dealer/{seq}/{k}"


class Dealer:
    """The dealer's side: it knows every party's seed and sends the last party's corrections.

    Parameters
    ----------
    channel
        The dealer's channel (its id is ``channel.dealer``).
    rng
        The dealer's generator (seeds; its own random bits).
    """

    def __init__(self, channel: Channel, rng: SecureRandom) -> None:
        self._ch = channel
        self._rng = rng
        self._prgs: list[SeedPRG] = []

    def setup(self, *, tag: str = "dealer/seeds") -> None:
        """Draw a fresh seed per party and send each party its own."""
        self._prgs = []
        for party in range(self._ch.parties):
            seed = self._rng.bytes(SEED_BYTES)
            self._prgs.append(SeedPRG(seed))
            self._ch.send(party, [np.frombuffer(seed, dtype=np.uint8).copy()], tag=tag)

    def serve(self, seq: int, plan: Sequence[Recipe]) -> None:
        """Produce every recipe of ``plan`` for instruction ``seq``; send the corrections."""
        if not self._prgs:
            raise ProtocolError("the dealer got a request before set-up")
        n = len(self._prgs)
        last = n - 1
        for k, recipe in enumerate(plan):
            nonce = _nonce(seq, k)
            draws: list[dict[str, Ring]] = []
            for i, prg in enumerate(self._prgs):
                draws.append(_draw(prg, nonce, recipe, skip_derived=(i == last)))
            randoms = {}
            for f in recipe.fields:
                if not f.derived:
                    parts = [d[f.name] for d in draws]
                    randoms[f.name] = _combine(parts, f.kind)
            derived = recipe.derive(randoms, self._rng)
            corrections = []
            for f in recipe.fields:
                if f.derived:
                    others = [draws[i][f.name] for i in range(last)]
                    corrections.append(_correction(derived[f.name], others, f.kind))
            if corrections:
                self._ch.send(last, corrections, tag=_tag(seq, k))


def _draw(prg: SeedPRG, nonce: int, recipe: Recipe, *, skip_derived: bool) -> dict[str, Ring]:
    """Draw one party's PRG fields of a recipe, in order, from one keystream."""
    fields = [f for f in recipe.fields if not (skip_derived and f.derived)]
    total = sum(int(np.prod(f.shape, dtype=np.int64)) for f in fields)
    flat = prg.words(nonce, (total,))
    out: dict[str, Ring] = {}
    off = 0
    for f in fields:
        size = int(np.prod(f.shape, dtype=np.int64))
        out[f.name] = flat[off : off + size].reshape(f.shape)
        off += size
    return out


def _combine(parts: list[Ring], kind: str) -> Ring:
    if kind == "xor":
        return xor_all(parts)
    total = parts[0]
    for p in parts[1:]:
        total = add(total, p)
    return total


def _correction(value: Ring, others: list[Ring], kind: str) -> Ring:
    if kind == "xor":
        return xor_all([value, *others]) if others else np.array(value, dtype=U64)
    out = value
    for o in others:
        out = sub(out, o)
    return np.asarray(out, dtype=U64)


class _LazyFields(Mapping[str, Ring]):
    """One recipe's fields for the last party: derived ones arrive when first read.

    The dealer's corrections are received only when the protocol first reads a derived
    field, so the last party opens its masked values while the dealer is still computing
    (the dealer's work overlaps the online round instead of preceding it).
    """

    __slots__ = ("_data", "_index", "_missing", "_names", "_source")

    def __init__(
        self, source: MaterialSource, index: int, data: dict[str, Ring], names: tuple[str, ...]
    ) -> None:
        self._source = source
        self._index = index
        self._data = data
        self._names = names
        self._missing = True

    def __getitem__(self, name: str) -> Ring:
        if self._missing and name not in self._data:
            self._source._receive_through(self._index)
        return self._data[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def _fill(self, values: Mapping[str, Ring]) -> None:
        self._data.update(values)
        self._missing = False

    def __repr__(self) -> str:  # never the values: they are shares
        return f"_LazyFields({list(self._names)})"


class MaterialSource:
    """A party's side: expands its seed and takes its corrections from the dealer.

    The last party receives the corrections lazily: :meth:`fetch` returns at once, and a
    recipe's corrections are received (in order) when one of its derived fields is first
    read, or by :meth:`drain` at the end of the instruction.

    Parameters
    ----------
    channel
        The party's channel.
    timeout
        Seconds to wait for the dealer (``None``: the channel's default).
    """

    def __init__(self, channel: Channel, *, timeout: float | None = None) -> None:
        self._ch = channel
        self._timeout = timeout
        self._prg: SeedPRG | None = None
        self._pending: list[tuple[int, int, Recipe, _LazyFields]] = []

    def setup(self, *, tag: str = "dealer/seeds") -> None:
        """Receive this party's seed from the dealer."""
        dealer = self._ch.dealer
        if dealer is None:
            raise ProtocolError("this network has no dealer; the protocols need one")
        (seed,) = expect_arrays(
            self._ch.recv(dealer, tag=tag, timeout=self._timeout),
            shapes=[(SEED_BYTES,)],
            dtype=np.uint8,
            frm=dealer,
            tag=tag,
        )
        self._prg = SeedPRG(seed.tobytes())

    def fetch(self, seq: int, plan: Sequence[Recipe]) -> list[Mapping[str, Ring]]:
        """Return this party's shares of every recipe of ``plan``, in order."""
        if self._prg is None:
            raise ProtocolError("material requested before the dealer's set-up")
        self.drain()
        ch = self._ch
        is_last = ch.party == ch.parties - 1
        out: list[Mapping[str, Ring]] = []
        for k, recipe in enumerate(plan):
            mine = _draw(self._prg, _nonce(seq, k), recipe, skip_derived=is_last)
            if is_last and any(f.derived for f in recipe.fields):
                lazy = _LazyFields(self, k, mine, tuple(f.name for f in recipe.fields))
                self._pending.append((seq, k, recipe, lazy))
                out.append(lazy)
            else:
                out.append(mine)
        return out

    def drain(self) -> None:
        """Receive every correction still owed for the last :meth:`fetch`."""
        if self._pending:
            self._receive_through(self._pending[-1][1])

    def _receive_through(self, index: int) -> None:
        """Receive the corrections of the pending recipes up to ``index``, in order."""
        ch = self._ch
        dealer = ch.dealer
        if dealer is None:
            raise ProtocolError("this network has no dealer; the protocols need one")
        while self._pending and self._pending[0][1] <= index:
            seq, k, recipe, lazy = self._pending.pop(0)
            derived = [f for f in recipe.fields if f.derived]
            tag = _tag(seq, k)
            got = expect_arrays(
                ch.recv(dealer, tag=tag, timeout=self._timeout),
                shapes=[f.shape for f in derived],
                dtype=U64,
                frm=dealer,
                tag=tag,
            )
            lazy._fill({f.name: arr for f, arr in zip(derived, got, strict=True)})
