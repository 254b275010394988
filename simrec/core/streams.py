"""Per-user random streams: counter-based draws keyed by user, step, page and slot.

A :class:`numpy.random.Generator` hands out numbers in the order they are asked for,
so a user's draw depends on which other users share the batch and where the user
sits in it: split the batch over shards and the draws change. :class:`UserStreams`
instead computes every number from its key alone,

    (seed, purpose, user, step, page, slot)  →  uniform in (0, 1),

so a user's draws are the same whatever the batch, its order or the number of shards.

The hash is SplitMix64 (Steele, Lea & Flood, "Fast splittable pseudorandom number
generators", OOPSLA 2014; the generator behind ``java.util.SplittableRandom``), whose
finalizer ``mix64`` is the bijection

    z ^= z >> 30;  z *= 0xBF58476D1CE4E5B9;  z ^= z >> 27;  z *= 0x94D049BB133111EB;  z ^= z >> 31

in wrapping 64-bit arithmetic. A key is built in three levels:

1. ``key = absorb(absorb(absorb(mix64(seed + γ), purpose), step), page)`` with
   ``absorb(k, x) = mix64((k ^ x) + γ)`` (scalars, once per call);
2. the user's stream state ``h = mix64(key + user·γ)``: output ``user`` of the SplitMix64
   stream seeded with ``key``;
3. the value ``mix64(h + (slot + 1)·γ)``: output ``slot + 1`` of the SplitMix64 stream
   seeded with ``h``,

(``γ = 0x9E3779B97F4A7C15``, the golden-ratio increment). Its top 52 bits ``m`` give the
uniform ``(m + ½)·2⁻⁵²``, strictly inside (0, 1) (smallest 2⁻⁵³, largest 1 − 2⁻⁵³);
Gumbel and normal draws are its inverse CDFs (``−log(−log u)``, ``scipy.special.ndtri``),
so they are always finite.

Each kind of draw has its own code (:data:`PURPOSES`), so that, say, the arrival coin and
the exit coin of one user at one step are independent. Rows of the same user in one call
get the same numbers: the keys assume each user appears once per (step, page).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
from scipy.special import ndtri

from simrec.core.rng import seed_sequence

#: The code of each kind of draw (part of every key). Append new kinds; never renumber.
PURPOSES: Mapping[str, int] = MappingProxyType({
    "arrive": 1,        # UserState.start_sessions: who opens the platform
    "choose": 2,        # ChoicePolicy.choose: Gumbel noise, slots 0..k-1 items, slot k the outside option
    "rate": 3,          # ChoicePolicy.rate: whether a watched slot is rated (rate_probability < 1)
    "rating_noise": 4,  # ChoicePolicy.rate: the noise of a rated slot's stars
    "leave": 5,         # ChoicePolicy.leave: the exit coin after the page
    "accidental": 6,    # NoiseModel.accidental (robustness.noise): the page's coin, the slot, the rating coin
})  # fmt: skip

_MASK = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_CHUNK = 1 << 15  # values per pass: the two uint64 work buffers stay in the CPU cache


def _mix_int(z: int) -> int:
    """SplitMix64's finalizer on a Python int (scalar key building)."""
    z &= _MASK
    z = ((z ^ (z >> 30)) * _M1) & _MASK
    z = ((z ^ (z >> 27)) * _M2) & _MASK
    return z ^ (z >> 31)


def _absorb(key: int, part: int) -> int:
    return _mix_int((key ^ (int(part) & _MASK)) + _GAMMA)


def _mix_inplace(z: np.ndarray, t: np.ndarray) -> None:
    """SplitMix64's finalizer on ``z`` in place (``t``: a work buffer of the same shape)."""
    np.right_shift(z, np.uint64(30), out=t)
    z ^= t
    z *= np.uint64(_M1)
    np.right_shift(z, np.uint64(27), out=t)
    z ^= t
    z *= np.uint64(_M2)
    np.right_shift(z, np.uint64(31), out=t)
    z ^= t


def _to_unit(z: np.ndarray, out: np.ndarray) -> None:
    """Top 52 bits of ``z`` as ``(m + ½)·2⁻⁵²`` into ``out`` (``z`` is overwritten)."""
    z >>= np.uint64(12)
    np.multiply(z, 2.0**-52, out=out)
    out += 2.0**-53


def _ids(values: object, what: str) -> np.ndarray:
    a = np.asarray(values)
    if a.ndim != 1 or not (a.size == 0 or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{what} must be a 1-D integer array, got shape {a.shape} and dtype {a.dtype}")
    if a.size and a.min() < 0:
        raise ValueError(f"{what} must be non-negative (got {a.min()})")
    return a


@dataclass(frozen=True)
class UserStreams:
    """Vectorised per-user random numbers that depend only on their key.

    Every method takes ``users [n]`` (non-negative ids), the ``step`` and ``page`` they are
    drawn at, the ``purpose`` (a name or code of :data:`PURPOSES`) and the slots: ``k``
    gives ``[n, k]`` values for slots ``0..k-1``; ``slots [n]`` one value per user at that
    user's slot; neither, ``[n]`` values at slot 0. So ``uniform(u, s, p, q, k)[:, j]``
    equals ``uniform(u, s, p, q, slots=np.full(n, j))``.

    Picklable and immutable: ship one to every shard.

    Args:
        seed: A non-negative integer below 2⁶⁴ (:func:`streams_for` derives one from a run's seed).
    """

    seed: int

    def __post_init__(self) -> None:
        if not 0 <= int(self.seed) <= _MASK:
            raise ValueError(f"UserStreams seed must be in [0, 2**64), got {self.seed}")

    def key(self, purpose: str | int, step: int, page: int) -> int:
        """The 64-bit key of one (purpose, step, page); users and slots are mixed in after."""
        key = _mix_int(int(self.seed) + _GAMMA)
        for part in (_purpose_code(purpose), step, page):
            key = _absorb(key, part)
        return key

    def uniform(
        self,
        users: np.ndarray,
        step: int,
        page: int,
        purpose: str | int,
        k: int | None = None,
        *,
        slots: np.ndarray | None = None,
    ) -> np.ndarray:
        """Uniforms in the open interval (0, 1), float64: ``[n]``, or ``[n, k]`` with ``k``."""
        u = _ids(users, "users")
        key = np.uint64(self.key(purpose, step, page))
        if k is not None:
            if slots is not None:
                raise ValueError("give k (slots 0..k-1 for every user) or slots (one per user), not both")
            return _grid(u, key, int(k))
        s = np.zeros(len(u), np.int64) if slots is None else _ids(slots, "slots")
        if s.shape != u.shape:
            raise ValueError(f"slots must be shaped like users {u.shape}, got {s.shape}")
        out = np.empty(len(u), np.float64)
        z_buf = np.empty(min(len(u), _CHUNK), np.uint64)
        t_buf, o_buf = np.empty_like(z_buf), np.empty_like(z_buf)
        for a in range(0, len(u), _CHUNK):
            m = min(_CHUNK, len(u) - a)
            z, t, o = z_buf[:m], t_buf[:m], o_buf[:m]
            _user_states(u[a : a + m], key, z, t)
            np.copyto(o, s[a : a + m], casting="unsafe")
            o += np.uint64(1)
            o *= np.uint64(_GAMMA)
            z += o
            _mix_inplace(z, t)
            _to_unit(z, out[a : a + m])
        return out

    def gumbel(
        self,
        users: np.ndarray,
        step: int,
        page: int,
        purpose: str | int,
        k: int | None = None,
        *,
        slots: np.ndarray | None = None,
    ) -> np.ndarray:
        """Standard Gumbel draws ``−log(−log u)`` of :meth:`uniform`'s values (same shapes)."""
        x = self.uniform(users, step, page, purpose, k, slots=slots)
        np.log(x, out=x)
        np.negative(x, out=x)
        np.log(x, out=x)
        np.negative(x, out=x)
        return x

    def normal(
        self,
        users: np.ndarray,
        step: int,
        page: int,
        purpose: str | int,
        k: int | None = None,
        *,
        slots: np.ndarray | None = None,
    ) -> np.ndarray:
        """Standard normal draws ``Φ⁻¹(u)`` of :meth:`uniform`'s values (same shapes)."""
        x = self.uniform(users, step, page, purpose, k, slots=slots)
        return ndtri(x, out=x)


def _user_states(users: np.ndarray, key: np.uint64, z: np.ndarray, t: np.ndarray) -> None:
    """Each user's stream state ``mix64(key + user·γ)`` into ``z`` (``t``: a work buffer)."""
    np.copyto(z, users, casting="unsafe")
    z *= np.uint64(_GAMMA)  # wraps
    z += key
    _mix_inplace(z, t)


def _grid(users: np.ndarray, key: np.uint64, k: int) -> np.ndarray:
    """``[n, k]`` uniforms at slots ``0..k-1`` of ``users``, a few rows at a time."""
    if k < 0:
        raise ValueError(f"k must be non-negative, got {k}")
    n = len(users)
    out = np.empty((n, k), np.float64)
    if n == 0 or k == 0:
        return out
    offsets = np.arange(1, k + 1, dtype=np.uint64) * np.uint64(_GAMMA)
    rows = max(1, _CHUNK // k)
    h_buf, g_buf = np.empty(min(n, rows), np.uint64), np.empty(min(n, rows), np.uint64)
    z_buf = np.empty(min(n, rows) * k, np.uint64)
    t_buf = np.empty_like(z_buf)
    for a in range(0, n, rows):
        m = min(rows, n - a)
        h = h_buf[:m]
        _user_states(users[a : a + m], key, h, g_buf[:m])
        z = z_buf[: m * k].reshape(m, k)
        np.add(h[:, None], offsets[None, :], out=z)
        _mix_inplace(z, t_buf[: m * k].reshape(m, k))
        _to_unit(z, out[a : a + m])
    return out


def _purpose_code(purpose: str | int) -> int:
    if isinstance(purpose, str):
        if purpose not in PURPOSES:
            raise ValueError(f"unknown purpose {purpose!r}: one of {sorted(PURPOSES)} (or an integer code)")
        return PURPOSES[purpose]
    return int(purpose)


def streams_for(seed: int, *names: str) -> UserStreams:
    """The streams of the named child of a run's root ``seed`` (as :func:`~simrec.core.rng.child_rng`).

    ``streams_for(cfg.seed, "policy")`` and ``streams_for(cfg.seed, "model")`` give the
    choice policy's and the arrivals' streams; the same seed and names, the same numbers.
    """
    state = seed_sequence(seed, "streams", *names).generate_state(1, np.uint64)
    return UserStreams(int(state[0]))
