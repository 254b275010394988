"""The LoRA fine-tune behind ``simrec tune`` (peft + torch, on the CPU).

The embedded model is loaded from its GGUF with transformers (``gguf_file=``),
prompts are formatted and tokenized by llama.cpp exactly as a run asks them, and
the loss is the scored protocol's own rule: cross-entropy over the choices'
next-word log-probabilities. Validation AUC (watch questions) is measured before
training and every ``eval_every`` steps; the best checkpoint is written as a
llama.cpp LoRA adapter GGUF. Same seed, settings and thread count → the same
adapter, unless the time budget cuts training short (recorded in ``tune.json``).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simrec.config.schema import ScenarioConfig
from simrec.core.errors import ConfigError
from simrec.core.rng import child_rng
from simrec.io.adapters import ADAPTER_FILE, META_FILE, adapter_dir
from simrec.llm.llama_native import _usable_cpus
from simrec.tune.examples import Example, build_examples


@dataclass
class TuneResult:
    """What a tuning run did and measured.

    Attributes:
        folder: Where the adapter and ``tune.json`` are.
        examples: Training and validation examples.
        steps_done: Optimizer steps run.
        best_step: The step of the checkpoint kept (0: none beat the untuned model).
        valid_auc: Validation AUC of the watch question at each checkpoint, ``{step: auc}``.
        valid_stars_mae: Validation mean absolute error of the expected stars, ``{step: mae}``.
        valid_watch_accuracy: Validation accuracy of the watch answers at each checkpoint,
            ``{step: {"drawn": expected accuracy of watches drawn from σ(ℓ), "greedy": of ℓ > 0}}``.
        seconds: Wall-clock time of the whole run.
        train_seconds: Time spent in optimizer steps.
        cut_by_budget: Training stopped at the time budget before ``steps``.
        threads: Torch threads used.
        precision: ``bf16`` (autocast) or ``fp32``.
    """

    folder: Path
    examples: dict[str, int]
    steps_done: int = 0
    best_step: int = 0
    valid_auc: dict[int, float] = field(default_factory=dict)
    valid_stars_mae: dict[int, float] = field(default_factory=dict)
    valid_watch_accuracy: dict[int, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0
    train_seconds: float = 0.0
    cut_by_budget: bool = False
    threads: int = 1
    precision: str = "fp32"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        d = asdict(self)
        d["folder"] = str(self.folder)
        return d


def _has_bf16(torch: Any) -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX-512 BF16 / AMX): autocast then runs ~1.5x faster."""
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class _Encoder:
    """Prompts → token ids, and choices → their first-token ids, through llama.cpp's tokenizer."""

    def __init__(self, gguf: Path) -> None:
        import llama_cpp

        from simrec.llm.llama_runtime import _chat_setup

        self.llm = llama_cpp.Llama(str(gguf), vocab_only=True, verbose=False)
        self.merge = _chat_setup(self.llm)

    def ids(self, ex: Example) -> list[int]:
        from simrec.llm.llama_prompts import split_prompt
        from simrec.llm.schema_utils import merge_system

        msgs = [{"role": "system", "content": ex.system}, {"role": "user", "content": ex.question}]
        if self.merge:
            msgs = merge_system(msgs)
        prefix, rest = split_prompt(self.llm, msgs, ex.question)
        return prefix + rest

    def choices(self, choices: tuple[str, ...]) -> list[list[int]]:
        from simrec.llm.llama_prompts import choice_tokens

        return choice_tokens(self.llm, choices)


def _base_gguf(cfg: ScenarioConfig) -> Path:
    """The GGUF file transformers loads: the shipped file of the configured embedded model."""
    from simrec.llm.bundled import BUNDLED_MODELS, _smollm2_path, bundled_model_path

    name = cfg.llm.model or "smollm2-135m"
    if name == "smollm2-135m":
        return _smollm2_path()
    if name in BUNDLED_MODELS:
        return bundled_model_path(cfg.llm.cache_dir, name)
    path = Path(name).expanduser()
    if not path.is_file():
        raise ConfigError(f"llm.model {name} is neither a bundled model nor a GGUF file")
    return path


def _fit_weights(cfg: ScenarioConfig, world: Any, valid: list[Example], out: Path) -> dict[str, Any]:
    """``policy.llm.llm_weight`` chosen on the validation examples, for the tuned and the untuned model."""
    from simrec.fidelity.calibrate import calibrate_world
    from simrec.tune.weight import fit_on_examples, scoring_backend

    world = calibrate_world(cfg, world)
    fits = {}
    for name, adapter in (("tuned", out / ADAPTER_FILE), ("untuned", None)):
        backend = scoring_backend(cfg, adapter, out)
        try:
            fits[name] = asdict(fit_on_examples(cfg, world, valid, backend))
        finally:
            backend.close()
    return fits


def tune(
    cfg: ScenarioConfig,
    *,
    on_progress: Callable[[int, int, str], None] | None = None,
    folder: Path | None = None,
) -> TuneResult:
    """Fine-tune a LoRA adapter for ``cfg``'s users and save it where ``llm.adapter: auto`` finds it.

    Args:
        cfg: The scenario (its environment, agents, llm and tune blocks).
        on_progress: Called as ``(step, steps, note)`` after each optimizer step.
        folder: Where to write (default: :func:`simrec.io.adapters.adapter_dir`).

    Raises:
        ConfigError: if the backend is not llamacpp or the tuning packages are missing.
    """
    if cfg.llm.backend != "llamacpp":
        raise ConfigError("simrec tune teaches the embedded model: set llm.backend: llamacpp.")
    try:
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM
    except ImportError as exc:
        raise ConfigError(f"simrec tune needs torch, transformers and peft ({exc}): pip install -e '.[tune]'") from None

    from simrec.llm.lora_gguf import lora_state, write_lora_gguf
    from simrec.world.build import build_world

    start = time.perf_counter()
    t = cfg.tune
    threads = t.threads or _usable_cpus()
    torch.set_num_threads(threads)
    torch.manual_seed(int(child_rng(cfg.seed, "tune-torch").integers(2**31 - 1)))
    rng = child_rng(cfg.seed, "tune")
    out = Path(folder) if folder is not None else adapter_dir(cfg)

    world = build_world(cfg)
    examples = build_examples(world, t, rng, cfg.policy.llm.prompt_version)
    train = [e for e in examples if not e.valid]
    valid = [e for e in examples if e.valid][: t.valid_examples]
    if not train or not any(e.kind == "watch" for e in valid):
        raise ValueError("too few examples to tune and validate; raise tune.users or tune.per_user")
    result = TuneResult(out, {"train": len(train), "valid": len(valid)}, threads=threads)

    gguf = _base_gguf(cfg)
    enc = _Encoder(gguf)
    ids = {id(e): enc.ids(e) for e in examples}
    choice_ids = {c: enc.choices(c) for c in {e.choices for e in examples}}
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    model.config.use_cache = False
    model = get_peft_model(
        model,
        LoraConfig(r=t.rank, lora_alpha=t.alpha, target_modules=list(t.targets), lora_dropout=0.0, bias="none"),
    )
    pad = 0
    bf16 = t.precision == "bf16" or (t.precision == "auto" and _has_bf16(torch))
    result.precision = "bf16" if bf16 else "fp32"

    def forward(batch: Sequence[Example]) -> Any:
        """Per example, log-probabilities over its choices ``[B, n_choices]`` (same n within a batch)."""
        seqs = [ids[id(e)] for e in batch]
        width = max(len(s) for s in seqs)
        inp = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for j, s in enumerate(seqs):  # left padding: every last token sits at the end
            inp[j, width - len(s) :] = torch.tensor(s)
            mask[j, width - len(s) :] = 1
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=inp, attention_mask=mask, logits_to_keep=1).logits[:, -1, :]
        logp = torch.log_softmax(logits.float(), dim=-1)
        per = torch.stack([torch.logsumexp(logp[:, ids_], dim=-1) for ids_ in choice_ids[batch[0].choices]], dim=1)
        return per - torch.logsumexp(per, dim=1, keepdim=True)

    def evaluate(step: int) -> float:
        from sklearn.metrics import roc_auc_score

        model.eval()
        with torch.no_grad():
            watch = [e for e in valid if e.kind == "watch"]
            scores = []
            for i in range(0, len(watch), 16):
                lp = forward(watch[i : i + 16])
                scores += (lp[:, 0] - lp[:, 1]).tolist()
            y = [1 if e.label == 0 else 0 for e in watch]
            auc = float(roc_auc_score(y, scores)) if len(set(y)) == 2 else float("nan")
            lo, yy = np.asarray(scores, np.float64), np.asarray(y, np.float64)
            p = 1.0 / (1.0 + np.exp(-lo))
            result.valid_watch_accuracy[step] = {
                "drawn": round(float(np.mean(yy * p + (1 - yy) * (1 - p))), 4),
                "greedy": round(float(np.mean((lo > 0) == (yy > 0))), 4),
            }
            stars = [e for e in valid if e.kind == "stars"]
            errs = []
            for i in range(0, len(stars), 16):
                p = forward(stars[i : i + 16]).exp()
                expect = (p * torch.arange(1, 6, dtype=p.dtype)).sum(dim=1)
                errs += (expect - torch.tensor([e.label + 1 for e in stars[i : i + 16]])).abs().tolist()
        model.train()
        result.valid_auc[step] = round(auc, 4)
        if errs:
            result.valid_stars_mae[step] = round(float(np.mean(errs)), 4)
        return auc

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=t.lr, weight_decay=0.0)
    best_auc = evaluate(0)
    best_state = None
    by_kind = {k: [e for e in train if e.kind == k] for k in ("watch", "stars")}
    kinds = [k for k in ("watch", "stars") if by_kind[k]]
    weights = np.array([len(by_kind[k]) for k in kinds], np.float64)
    model.train()
    train_s = 0.0
    for step in range(1, t.steps + 1):
        t0 = time.perf_counter()
        kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
        pool = by_kind[kind]
        batch = [pool[int(i)] for i in rng.choice(len(pool), size=min(t.batch_size, len(pool)), replace=False)]
        lp = forward(batch)
        loss = -lp[torch.arange(len(batch)), torch.tensor([e.label for e in batch])].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        train_s += time.perf_counter() - t0
        result.steps_done = step
        over = time.perf_counter() - start > t.budget_s
        note = f"loss {float(loss.detach()):.3f}"
        if step % t.eval_every == 0 or step == t.steps or over:
            auc = evaluate(step)
            note += f", valid AUC {auc:.3f}"
            if auc > best_auc:
                best_auc, result.best_step = auc, step
                best_state = {k: v.detach().clone() for k, v in lora_state(model).items()}
        if on_progress is not None:
            on_progress(step, t.steps, note)
        if over and step < t.steps:
            result.cut_by_budget = True
            break
    result.train_seconds = round(train_s, 2)
    cfgm = model.base_model.model.config
    out.mkdir(parents=True, exist_ok=True)
    if best_state is None:
        best_state = {k: v.detach().clone() for k, v in lora_state(model).items()}
        result.best_step = result.steps_done  # no checkpoint beat the untuned model: keep the last
    write_lora_gguf(
        best_state, out / ADAPTER_FILE, arch=str(enc.llm.metadata.get("general.architecture", "llama")),
        n_head=int(cfgm.num_attention_heads), n_head_kv=int(cfgm.num_key_value_heads), alpha=float(t.alpha),
    )  # fmt: skip
    if on_progress is not None:
        on_progress(result.steps_done, t.steps, "choosing llm_weight on validation")
    weights = _fit_weights(cfg, world, valid, out)
    result.seconds = round(time.perf_counter() - start, 2)
    meta = {
        "result": result.as_dict(), "tune": t.model_dump(), "scenario": cfg.name,
        "model": cfg.llm.model or "smollm2-135m", "llm_weight": weights,
    }  # fmt: skip
    tmp = out / (META_FILE + ".partial")
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")
    os.replace(tmp, out / META_FILE)
    return result
