"""simrec.llm.lora_gguf without a model: tensor names, the RoPE permutation, file contents, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from simrec.llm import lora_gguf
from simrec.llm.lora_gguf import (
    HF_TO_GGUF_MODULE,
    gguf_tensor_base,
    lora_state,
    permute_rope_rows,
    write_lora_gguf,
)

torch.set_num_threads(1)

ATTN = ["q_proj", "k_proj", "v_proj", "o_proj"]

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
    _fields, tensors = _read(_write_toy(state, tmp_path / "toy.gguf"))
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
