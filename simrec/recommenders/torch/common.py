"""What the PyTorch recommenders share: a lazy torch import, seeding, threads, checks.

Nothing here imports torch at module import time, so the registry can list the
torch recommenders (and the rest of simrec can run) without torch installed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from simrec.core.errors import ConfigError

if TYPE_CHECKING:
    import torch

INSTALL_HINT = 'pip install -e ".[torch]"'


def import_torch(owner: str) -> ModuleType:
    """Import and return ``torch``.

    Args:
        owner: The recommender that needs torch (named in the error).

    Raises:
        ConfigError: if torch is not installed, naming the extra to install.
    """
    try:
        import torch
    except ImportError as exc:
        raise ConfigError(
            f"The {owner} recommender needs PyTorch, which is not installed: {INSTALL_HINT} "
            "(or choose a recommender without torch, e.g. mf or item_knn)."
        ) from exc
    return torch


def draw_seed(rng: np.random.Generator) -> int:
    """A fresh 63-bit seed from ``rng`` (advances it, so each fit gets its own stream)."""
    return int(rng.integers(0, 2**63 - 1))


def torch_generator(seed: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed`` (leaves torch's global RNG alone)."""
    torch = import_torch("torch")
    gen = torch.Generator(device="cpu")
    gen.manual_seed(seed)
    return gen


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Use ``n`` intra-op threads inside the block (``0``: leave torch's setting), then restore."""
    if n <= 0:
        yield
        return
    torch = import_torch("torch")
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def check_pos(owner: str, name: str, value: object) -> float:
    """Return ``value`` as a float > 0 or raise a :class:`ConfigError` naming ``owner.name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not value > 0:
        raise ConfigError(f"{owner}: {name} must be a number > 0, got {value!r}.")
    return float(value)


def check_prob(owner: str, name: str, value: object) -> float:
    """Return ``value`` as a float in ``[0, 1)`` or raise a :class:`ConfigError`."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.number))
        or not 0 <= value < 1
    ):
        raise ConfigError(f"{owner}: {name} must be a number in [0, 1), got {value!r}.")
    return float(value)


def check_bool(owner: str, name: str, value: object) -> bool:
    """Return ``value`` if it is a bool or raise a :class:`ConfigError`."""
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{owner}: {name} must be true or false, got {value!r}.")
    return bool(value)


def to_numpy(tensor: Any) -> np.ndarray:
    """A detached float32 numpy copy of a CPU tensor."""
    return np.ascontiguousarray(tensor.detach().cpu().numpy(), dtype=np.float32)


def set_training_params(
    obj: object, owner: str, *, factors: int, epochs: int, batch_size: int, lr: float, warm_start: bool,
    retrain_epochs: int, threads: int,
) -> None:  # fmt: skip
    """Validate the training parameters both torch models share and set them on ``obj``.

    Raises:
        ConfigError: naming ``owner`` and the bad parameter.
    """
    from simrec.core.checks import MAX_BLOCK, MAX_FACTORS, MAX_SWEEPS, check_int

    obj.factors = check_int(owner, "factors", factors, 1, MAX_FACTORS)  # type: ignore[attr-defined]
    obj.epochs = check_int(owner, "epochs", epochs, 1, MAX_SWEEPS)  # type: ignore[attr-defined]
    obj.batch_size = check_int(owner, "batch_size", batch_size, 1, MAX_BLOCK)  # type: ignore[attr-defined]
    obj.lr = check_pos(owner, "lr", lr)  # type: ignore[attr-defined]
    obj.warm_start = check_bool(owner, "warm_start", warm_start)  # type: ignore[attr-defined]
    obj.retrain_epochs = check_int(owner, "retrain_epochs", retrain_epochs, 1, MAX_SWEEPS)  # type: ignore[attr-defined]
    obj.threads = check_int(owner, "threads", threads, 0, 1024)  # type: ignore[attr-defined]
