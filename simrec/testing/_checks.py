"""Helpers shared by the checkers: fail with a message that names the problem and its fix."""

from __future__ import annotations

import copy
from typing import NoReturn, TypeVar

import numpy as np

T = TypeVar("T")

_KINDS = {
    "b": "bool",
    "iu": "an integer dtype",
    "f": "a float dtype",
    "iuf": "an integer or float dtype",
}


def fail(
    who: str, problem: str, fix: str = "", error: type[Exception] = AssertionError
) -> NoReturn:
    """Raise ``error`` with ``"<who>: <problem>. <fix>"``."""
    raise error(f"{who}: {problem}." + (f" {fix[:1].upper()}{fix[1:]}." if fix else ""))


def check_array(
    who: str, label: str, value: object, shape: tuple[int, ...], kind: str, fix: str = ""
) -> np.ndarray:
    """``value``, checked to be a numpy array of ``shape`` with a dtype kind in ``kind``.

    ``kind`` is ``"b"`` (bool), ``"iu"`` (integer), ``"f"`` (float) or ``"iuf"`` (either).

    Raises:
        TypeError: ``value`` is not a numpy array.
        AssertionError: wrong shape or dtype.
    """
    if not isinstance(value, np.ndarray):
        fail(who, f"{label} is a {type(value).__name__}, not a numpy array", fix, TypeError)
    if value.shape != shape:
        fail(who, f"{label} has shape {value.shape}, expected {shape}", fix)
    if value.dtype.kind not in kind:
        fail(who, f"{label} has dtype {value.dtype}, expected {_KINDS.get(kind, kind)}", fix)
    return value


def call(who: str, what: str, method: object, *args: object, **kwargs: object) -> object:
    """``method(*args, **kwargs)``; anything it raises becomes an AssertionError naming ``what``."""
    try:
        return method(*args, **kwargs)  # type: ignore[operator]
    except Exception as exc:
        raise AssertionError(f"{who}: {what} raised {type(exc).__name__}: {exc}") from exc


def same(a: object, b: object) -> bool:
    """Whether two values (arrays, or ``None``) are equal, NaN equal to NaN."""
    if a is None or b is None:
        return a is b
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f" and b.dtype.kind == "f"))


def twin(obj: T) -> T:
    """A deep copy of ``obj`` (its generator state included) sharing what cannot be copied.

    Attributes that refuse to be deep-copied (an LLM backend's locks, a client's
    connection) are shared by the copy instead.
    """
    memo: dict[int, object] = {}
    for value in vars(obj).values() if hasattr(obj, "__dict__") else ():
        try:
            copy.deepcopy(value)
        except Exception:  # noqa: BLE001  (anything that cannot be copied is shared)
            memo[id(value)] = value
    return copy.deepcopy(obj, memo)
