"""Write a peft LoRA as a llama.cpp LoRA adapter GGUF file.

The LoRA is trained with transformers/peft on a Llama-family model that was loaded
from a GGUF file (``AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)``);
the adapter written here is loaded next to that same GGUF by llama.cpp, e.g.
``llama_cpp.Llama(model_path=gguf, lora_path=adapter)``.

Two details make the result match what torch computes:

* llama.cpp stores the rows of ``attn_q`` / ``attn_k`` permuted for its RoPE layout
  (``convert_hf_to_gguf``'s ``permute``), and transformers un-permutes them when it
  loads a GGUF. A LoRA delta ``B @ A`` on ``q_proj`` / ``k_proj`` therefore has its
  output rows (the rows of ``B``) permuted the same way before writing; ``A`` acts on
  the input side and is written unchanged.
* llama.cpp scales each delta by ``adapter.lora.alpha / rank`` (rank read from the
  tensor), the same as peft's default ``lora_alpha / r``. With ``use_rslora=True``
  peft scales by ``lora_alpha / sqrt(r)``; pass ``alpha=lora_alpha * sqrt(r)`` then.

llama-cpp-python (0.3.x) does not notice when llama.cpp refuses an adapter (e.g. a
``general.architecture`` that differs from the model's): ``Llama(lora_path=...)``
returns normally with a NULL adapter, and the first ``eval`` then crashes the process
(segmentation fault). Call :func:`check_lora_loaded` right after constructing it.

The module needs the ``tune`` extra (``torch``, ``gguf``); both are imported lazily.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "HF_TO_GGUF_MODULE",
    "check_lora_loaded",
    "gguf_tensor_base",
    "lora_state",
    "permute_rope_rows",
    "write_lora_gguf",
]

#: HF (Llama-style) projection module name -> llama.cpp tensor name inside ``blk.{i}``.
HF_TO_GGUF_MODULE: dict[str, str] = {
    "q_proj": "attn_q",
    "k_proj": "attn_k",
    "v_proj": "attn_v",
    "o_proj": "attn_output",
    "gate_proj": "ffn_gate",
    "up_proj": "ffn_up",
    "down_proj": "ffn_down",
}

# ...layers.<i>.<self_attn|mlp>.<module>.lora_<A|B>[.<adapter name>].weight
# (model.state_dict() keeps the adapter name; peft.get_peft_model_state_dict drops it).
_KEY_RE = re.compile(
    r"(?:^|\.)layers\.(?P<layer>\d+)\.(?:self_attn|mlp)\.(?P<module>[A-Za-z0-9_]+)"
    r"\.lora_(?P<ab>[AB])(?:\.(?P<adapter>[A-Za-z0-9_\-]+))?\.weight$"
)


@dataclass(frozen=True)
class _Key:
    layer: int
    module: str
    ab: str
    adapter: str | None


def _parse_key(key: str) -> _Key:
    match = _KEY_RE.search(key)
    if match is None:
        raise ValueError(
            f"not a LoRA weight of a decoder layer projection: {key!r} (expected "
            "'...layers.<i>.self_attn|mlp.<module>.lora_A|lora_B[.<adapter>].weight'; "
            "DoRA magnitudes, LoRA biases, embedding LoRAs and modules_to_save are "
            "not supported)"
        )
    module = match["module"]
    if module not in HF_TO_GGUF_MODULE:
        raise ValueError(
            f"unknown LoRA target module {module!r} in {key!r}; supported: "
            f"{', '.join(HF_TO_GGUF_MODULE)}"
        )
    return _Key(int(match["layer"]), module, match["ab"], match["adapter"])


def gguf_tensor_base(key: str) -> str:
    """The llama.cpp weight name a peft LoRA key applies to.

    ``'base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight'`` (with or
    without an adapter name before ``.weight``) gives ``'blk.3.attn_q.weight'``; the
    adapter tensors are that name plus ``.lora_a`` / ``.lora_b``.

    Raises:
        ValueError: the key is not a LoRA A/B weight of a known projection module.
    """
    parsed = _parse_key(key)
    return f"blk.{parsed.layer}.{HF_TO_GGUF_MODULE[parsed.module]}.weight"


def permute_rope_rows(w: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """Permute the rows of ``w`` the way ``convert_hf_to_gguf`` does for q/k.

    Same as llama.cpp's ``LlamaModel.permute``: when ``n_head_kv`` is given and
    differs from ``n_head``, it is used as the head count (the case of ``attn_k``).

    Raises:
        ValueError: the row count is not a multiple of ``2 * heads``.
    """
    heads = n_head_kv if n_head_kv is not None and n_head_kv != n_head else n_head
    rows = w.shape[0]
    if heads <= 0 or rows % (2 * heads) != 0:
        raise ValueError(f"cannot permute {rows} rows for RoPE over {heads} heads")
    return (
        w.reshape(heads, 2, rows // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
    )


def lora_state(model: Any, adapter_name: str | None = None) -> dict[str, torch.Tensor]:
    """The LoRA A/B weights of a peft model, detached, as ``write_lora_gguf`` takes them.

    Uses ``peft.get_peft_model_state_dict`` (keys without the adapter name) for the
    given adapter, or the model's active adapter when ``adapter_name`` is None.

    Raises:
        ValueError: the adapter holds trained weights other than ``lora_A`` /
            ``lora_B`` weights (``modules_to_save``, DoRA magnitudes, LoRA biases,
            trainable tokens), which a llama.cpp LoRA adapter cannot carry.
    """
    from peft import get_peft_model_state_dict

    name = adapter_name
    if name is None:
        active = getattr(model, "active_adapter", "default")
        name = active if isinstance(active, str) else active[0]
    # save_embedding_layers=False: "auto" probes the Hugging Face Hub for the base
    # model's config.json (a network call, and a warning for a GGUF folder).
    state = get_peft_model_state_dict(model, adapter_name=name, save_embedding_layers=False)
    lora = {
        key: value.detach()
        for key, value in state.items()
        if re.search(r"\.lora_[AB](?:\.[^.]+)?\.weight$", key)
    }
    other = sorted(set(state) - set(lora))
    if other:
        raise ValueError(
            f"adapter {name!r} has weights a llama.cpp LoRA cannot carry: "
            f"{', '.join(other[:5])}{' ...' if len(other) > 5 else ''}"
        )
    return lora


def _to_numpy(tensor: Any) -> np.ndarray:
    if hasattr(tensor, "detach"):
        tensor = tensor.detach().to("cpu").float().numpy()
    return np.asarray(tensor, dtype=np.float32)


def write_lora_gguf(
    lora: dict[str, torch.Tensor],
    path: Path,
    *,
    arch: str,
    n_head: int,
    n_head_kv: int,
    alpha: float,
    f16: bool = False,
) -> Path:
    """Write ``lora`` as a llama.cpp LoRA adapter GGUF at ``path`` (atomically).

    Args:
        lora: peft LoRA weights, keys like
            ``base_model.model.model.layers.3.self_attn.q_proj.lora_A.weight`` or the
            ``model.state_dict()`` form ``...q_proj.lora_A.default.weight``; see
            :func:`lora_state`. ``lora_A`` is ``[r, in]``, ``lora_B`` is ``[out, r]``.
        path: the adapter file to write; its folder must exist.
        arch: the base GGUF's ``general.architecture`` (e.g. ``"llama"``).
        n_head: the base model's attention heads (``<arch>.attention.head_count``).
        n_head_kv: its key/value heads (``<arch>.attention.head_count_kv``).
        alpha: peft's ``lora_alpha``; llama.cpp scales each delta by ``alpha / r``.
        f16: write the tensors as float16 instead of float32.

    Returns:
        ``path``.

    Raises:
        ValueError: a key is not a LoRA weight of a known module, an A or B is
            missing, the weights of one module belong to several adapters, shapes do
            not fit together, or ``lora`` is empty.
    """
    import gguf

    path = Path(path)
    if not lora:
        raise ValueError("no LoRA weights given")
    pairs: dict[tuple[int, str], dict[str, np.ndarray]] = {}
    adapters: set[str | None] = set()
    for key, tensor in lora.items():
        parsed = _parse_key(key)
        adapters.add(parsed.adapter)
        slot = pairs.setdefault((parsed.layer, parsed.module), {})
        if parsed.ab in slot:
            raise ValueError(
                f"two lora_{parsed.ab} weights for layer {parsed.layer} {parsed.module} "
                f"(several adapters?); pass one adapter's weights, see lora_state()"
            )
        slot[parsed.ab] = _to_numpy(tensor)
    if len(adapters) > 1:
        raise ValueError(
            f"LoRA weights of several adapters {sorted(map(str, adapters))}; pass one"
        )

    dtype = np.float16 if f16 else np.float32
    tensors: list[tuple[str, np.ndarray]] = []
    for (layer, module), slot in sorted(pairs.items()):
        missing = [f"lora_{ab}" for ab in ("A", "B") if ab not in slot]
        if missing:
            raise ValueError(
                f"layer {layer} {module}: {' and '.join(missing)} missing (need both "
                "lora_A and lora_B of every adapted module)"
            )
        a, b = slot["A"], slot["B"]
        if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
            raise ValueError(
                f"layer {layer} {module}: lora_A {a.shape} and lora_B {b.shape} do not "
                "fit (want [r, in] and [out, r])"
            )
        if module == "q_proj":
            b = permute_rope_rows(b, n_head, n_head)
        elif module == "k_proj":
            b = permute_rope_rows(b, n_head, n_head_kv)
        base = f"blk.{layer}.{HF_TO_GGUF_MODULE[module]}.weight"
        # numpy [r, in] -> ggml ne [in, r]; [out, r] -> ne [r, out], what llama.cpp checks.
        tensors.append((base + ".lora_a", np.ascontiguousarray(a, dtype=dtype)))
        tensors.append((base + ".lora_b", np.ascontiguousarray(b, dtype=dtype)))

    fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        writer = gguf.GGUFWriter(tmp_name, arch)  # writes general.architecture
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
        for name, array in tensors:
            writer.add_tensor(name, array)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.chmod(tmp_name, 0o644)  # mkstemp makes it 0600
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return path


def check_lora_loaded(llm: Any) -> None:
    """Raise unless the ``llama_cpp.Llama`` built with ``lora_path`` really holds it.

    llama-cpp-python checks ``llama_adapter_lora_init``'s result with ``is None``, but
    a refused adapter comes back as a NULL ctypes pointer object, so a bad file passes
    silently and evaluating then segfaults. A ``Llama`` without ``lora_path`` passes.

    Raises:
        ValueError: ``lora_path`` was given and llama.cpp refused the adapter (its log,
            with ``verbose=True``, says why).
    """
    if getattr(llm, "lora_path", None) and not getattr(llm, "_lora_adapter", None):
        raise ValueError(
            f"llama.cpp refused the LoRA adapter {llm.lora_path} (architecture, tensor "
            "names or shapes do not fit the model; load with verbose=True to see why)"
        )
