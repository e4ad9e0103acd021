"""The dealer ("crypto provider"): correlated randomness, compressed to PRG seeds.

The dealer sees no input and no share of one; it hands the parties correlated randomness:
Beaver triples ``(a, b, c = op(a, b))`` (Beaver 1991, "Efficient multiparty protocols using
circuit randomization", CRYPTO '91, §2), square pairs ``(a, a²)``, binary AND triples, masks
for truncation and comparison, and daBits (a random bit shared both additively and by XOR).

**Seed compression.** At set-up the dealer gives party ``i`` a secret 16-byte seed ``s_i``
(from :class:`~privet.core.random.SecureRandom`). For each request every party expands its
seed with AES-128-CTR (:class:`SeedPRG`, keyed by ``s_i``, counter block = request nonce), and
the dealer, who knows every seed, expands them too. A *random* field (``a``, ``b``, the mask
``r``) is then the sum (or XOR) of what the parties draw; nothing is sent. A *derived* field
(``c = op(a, b)``, ``r >> m`` …) is drawn from the PRG by every party but one, the
*receiver* (the last party, :func:`receiver`), which gets its share as a correction
``c - Σ_{i≠receiver} c_i``: per Beaver multiplication of ``k`` outputs the dealer sends ``k``
ring elements, to one party only. A field that is only ever
used multiplied by ``2^(64-w)`` needs its shares mod ``2^w`` only; it is drawn and corrected
in a ``w``-bit dtype (``Field.dtype``), ``64/w`` times fewer bytes. (The same compression
as CrypTen's trusted-first-party provider; Knott et al. 2021, "CrypTen: secure multi-party
computation meets machine learning", NeurIPS 2021.)

Both sides consume the fields of a :class:`~privet.smpc.recipes.Recipe` in the same order,
so a plan (``list[Recipe]``, :mod:`privet.smpc.recipes`) computed from the public
instruction fixes what is drawn.

Examples
--------
>>> import numpy as np
>>> prg = SeedPRG(bytes(16))
>>> bool((prg.words(7, (3,)) == SeedPRG(bytes(16)).words(7, (3,))).all())
True
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from privet.core.channel import Channel, expect_arrays
from privet.core.errors import ParameterError, ProtocolError
from privet.core.random import SecureRandom
from privet.smpc.recipes import Field, Recipe
from privet.smpc.ring import Ring

__all__ = ["SEED_BYTES", "Dealer", "MaterialSource", "SeedPRG", "receiver"]

SEED_BYTES: Final = 16
_MASK64: Final = (1 << 64) - 1
_CHUNK: Final = 1 << 18
_ZEROS: Final = memoryview(bytes(_CHUNK))
U64: Final = np.uint64


class SeedPRG:
    """A PRG: AES-128-CTR keyed by a secret seed, one keystream per 64-bit nonce.

    The 128-bit counter block starts at ``nonce * 2^64``, so two nonces never share a block
    (each stream is at most 2^64 blocks). AES-128 in counter mode is a PRG with 128-bit
    security (NIST SP 800-57 Part 1 Rev. 5, Table 2: AES-128 gives 128 bits of security
    strength); it is about a fifth faster than AES-256 here, and the dealer expands every
    party's streams. The seed is not kept as an attribute and never shown.

    Parameters
    ----------
    seed
        16 secret bytes, from a :class:`~privet.core.random.SecureRandom`.

    Examples
    --------
    >>> SeedPRG(bytes(16)).words(0, (2, 2)).shape
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
        return "SeedPRG(AES-128-CTR, seed hidden)"

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise ProtocolError("a SeedPRG holds a secret seed and cannot be pickled")


def receiver(parties: int) -> int:
    """Return the party that receives the dealer's corrections: the last one.

    Spreading the corrections over the parties (request ``k`` of instruction ``seq`` to
    party ``(seq + k) mod n``) was measured slower on 2 cores: a truncated product of 10^6
    values took 142-146 ms against 118-124 ms (medians of 6, alternating runs), since then
    both parties wait on the dealer within one instruction; the rounds synchronise them
    anyway.

    Examples
    --------
    >>> receiver(3)
    2
    """
    return parties - 1


def _nonce(seq: int, k: int) -> int:
    if not (0 <= seq < 1 << 48 and 0 <= k < 1 << 16):
        raise ProtocolError(f"instruction {seq} / request {k} is out of the nonce space")
    return (seq << 16) | k


def _next_seq(seq: int, last: int) -> int:
    """Return ``seq`` if it follows ``last``: each instruction's key streams are used once.

    The nonces are ``(seq, k)``; an instruction number that came back would expand the same
    masks again, and two values opened under one mask reveal their difference.
    """
    if seq <= last:
        raise ProtocolError(
            f"instruction {seq} does not follow instruction {last}: its masks would repeat; "
            "the driver is out of step or replaying"
        )
    return seq


def _tag(seq: int, k: int) -> str:
    return f"dealer/{seq}/{k}"


class Dealer:
    """The dealer's side: it knows every party's seed and sends each receiver its corrections.

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
        self._kept: dict[int, Ring] = {}
        self._last = -1  # the last instruction served: the key streams never repeat

    @property
    def kept(self) -> int:
        """How many fixed-operand masks it keeps (:func:`~privet.smpc.recipes.fixed_triples`)."""
        return len(self._kept)

    def forget(self, keys: Sequence[int]) -> None:
        """Drop the masks kept under ``keys`` (their registers were freed)."""
        for key in keys:
            self._kept.pop(key, None)

    def setup(self, *, tag: str = "dealer/seeds") -> None:
        """Draw a fresh seed per party and send each party its own."""
        self._prgs = []
        self._last = -1
        for party in range(self._ch.parties):
            seed = self._rng.bytes(SEED_BYTES)
            self._prgs.append(SeedPRG(seed))
            self._ch.send(party, [np.frombuffer(seed, dtype=np.uint8).copy()], tag=tag)

    def serve(self, seq: int, plan: Sequence[Recipe]) -> None:
        """Produce every recipe of ``plan`` for instruction ``seq``; send the corrections."""
        if not self._prgs:
            raise ProtocolError("the dealer got a request before set-up")
        self._last = _next_seq(seq, self._last)
        n = len(self._prgs)
        for k, recipe in enumerate(plan):
            nonce = _nonce(seq, k)
            to = receiver(n)
            draws: list[dict[str, Ring]] = []
            for i, prg in enumerate(self._prgs):
                draws.append(_draw(prg, nonce, recipe, skip_derived=(i == to)))
            randoms = {}
            for f in recipe.fields:
                if not f.derived:
                    randoms[f.name] = _combine([d[f.name] for d in draws], f)
            self._keep_and_read(recipe, randoms)
            derived = recipe.derive(randoms, self._rng)
            corrections = []
            for f in recipe.fields:
                if f.derived:
                    others = [draws[i][f.name] for i in range(n) if i != to]
                    corrections.append(_correction(derived[f.name], others, f))
            if corrections:
                self._ch.send(to, corrections, tag=_tag(seq, k))

    def _keep_and_read(self, recipe: Recipe, randoms: dict[str, Ring]) -> None:
        """Keep the recipe's ``keep`` fields; add the kept values it ``reads`` to ``randoms``."""
        for name, key in recipe.keep:
            if key in self._kept:
                raise ProtocolError(f"register {key} already has a fixed-operand mask")
            self._kept[key] = randoms[name]  # a fresh array (_combine), not a PRG view
        for name, key in recipe.reads:
            try:
                randoms[name] = self._kept[key]
            except KeyError:
                raise ProtocolError(
                    f"no fixed-operand mask is kept for register {key}; the driver must "
                    "mask it with its first product"
                ) from None


def _draw(prg: SeedPRG, nonce: int, recipe: Recipe, *, skip_derived: bool) -> dict[str, Ring]:
    """Draw one party's PRG fields of a recipe, in order, from one keystream."""
    fields = [f for f in recipe.fields if not (skip_derived and f.derived)]
    flat = prg.words(nonce, (sum(f.nbytes for f in fields) // 8,)).view(np.uint8)
    out: dict[str, Ring] = {}
    off = 0
    for f in fields:
        size = math.prod(f.shape)
        out[f.name] = flat[off : off + f.nbytes].view(f.dtype)[:size].reshape(f.shape)
        off += f.nbytes
    return out


def _combine(parts: list[Ring], field: Field) -> Ring:
    """Return the secret a random field shares: the sum (or XOR) of every party's draw."""
    op = np.bitwise_xor if field.kind == "xor" else np.add
    if len(parts) == 1:
        return np.array(parts[0], dtype=field.dtype)
    total = np.asarray(op(parts[0], parts[1]), dtype=field.dtype)  # one pass, no copy first
    for p in parts[2:]:
        op(total, p, out=total)
    return total


def _correction(value: Ring, others: list[Ring], field: Field) -> Ring:
    """Return the receiver's share of a derived field: ``value`` minus (XOR) the others'."""
    op = np.bitwise_xor if field.kind == "xor" else np.subtract
    value = np.asarray(value, dtype=field.dtype)  # wraps mod 2^w: only w bits are needed
    if not others:
        return np.array(value)
    out = np.asarray(op(value, others[0]), dtype=field.dtype)
    for o in others[1:]:
        op(out, o, out=out)
    return out


class _LazyFields(Mapping[str, Ring]):
    """One recipe's fields for its receiver: derived ones arrive when first read.

    The dealer's corrections are received only when the protocol first reads a derived
    field, so the receiver opens its masked values while the dealer is still computing
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

    The receiver of a recipe gets its corrections lazily: :meth:`fetch` returns at once, and a
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
        self._last = -1

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
        self._last = -1

    def fetch(self, seq: int, plan: Sequence[Recipe]) -> list[Mapping[str, Ring]]:
        """Return this party's shares of every recipe of ``plan``, in order."""
        if self._prg is None:
            raise ProtocolError("material requested before the dealer's set-up")
        self._last = _next_seq(seq, self._last)
        self.drain()
        ch = self._ch
        out: list[Mapping[str, Ring]] = []
        for k, recipe in enumerate(plan):
            mine_to_receive = ch.party == receiver(ch.parties)
            mine = _draw(self._prg, _nonce(seq, k), recipe, skip_derived=mine_to_receive)
            if mine_to_receive and any(f.derived for f in recipe.fields):
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
                dtype=[f.dtype for f in derived],
                frm=dealer,
                tag=tag,
            )
            lazy._fill({f.name: arr for f, arr in zip(derived, got, strict=True)})
