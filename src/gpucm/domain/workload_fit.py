"""Does a model fit? A workload term (`70B@bf16,ctx=32k,train`) -> the VRAM it needs.

    fits=SIZE[@PRECISION][,ctx=N[k]][,train|,infer]

SIZE is a parameter count: `70B`, `1.5b`, `500M`. PRECISION is one of bf16 (the
default), fp16, fp8, int8, int4. `ctx` is the context in tokens (`32k` = 32,768) whose
KV cache must fit too; without it only the weights (and, for training, the training
state) are counted. `infer` (the default) serves the model, `train` fully fine-tunes it.

The arithmetic (README "Does my model fit"), decimal GB (10^9 bytes) as GPU makers
state memory:

- weights = parameters x bytes per parameter (2 for bf16/fp16, 1 for fp8/int8,
  0.5 for int4). 70B at bf16 is 140 GB.
- KV cache (inference) = 2 (K and V) x layers x KV heads x head size x 2 bytes per token of context,
  for one sequence. The KV cache stays 16-bit whatever the weights' precision (vLLM's
  `kv_cache_dtype=auto`). Layers, KV heads and head size come from a small table of
  known open-model shapes (Llama 3, Qwen 2.5, Mistral) when the size is within 5 % of
  one of them, else from a heuristic: a Llama-like dense transformer (12 x layers x
  hidden^2 parameters, layers = hidden / 128, grouped-query attention with 8 KV heads of
  128).
- training (full fine-tuning with Adam in mixed precision) adds gradients and optimizer
  state: 16 bytes per parameter in all (the ZeRO paper's 2 + 2 + 12), in place of the
  weights' bytes, plus activations with activation checkpointing for one sequence of
  the context (2 bytes x context x hidden x (2 x layers + 34): every layer's input kept,
  one layer's activations live while it is recomputed; Korthikanti et al. 2022).
- margin: the sum x 1.2, for the CUDA context, the framework's buffers and
  fragmentation (the usual 20 % of serving rules of thumb).

The total is split evenly over an offer's GPUs (tensor parallelism across the GPUs of
one machine), so an offer fits when VRAM per GPU x GPU count >= the total, i.e. each
GPU needs total / count. Precisions with hardware requirements: bf16 needs NVIDIA
Ampere (compute capability 8.0) or newer, or an AMD Instinct (CDNA); fp8 needs NVIDIA
Ada or Hopper (8.9) or newer, or AMD CDNA 3 (MI300 series). Pure domain code.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal, Protocol


class GpuSpec(Protocol):
    """What the hardware check reads of a catalog GpuModel (models imports this module
    for SearchQuery's `fits`, so it does not import models back)."""

    @property
    def vendor(self) -> str: ...

    @property
    def architecture(self) -> str: ...

    @property
    def compute_capability(self) -> float | None: ...


__all__ = [
    "MARGIN",
    "PRECISIONS",
    "FitError",
    "ModelShape",
    "Workload",
    "WorkloadNeed",
    "kv_cache_bytes_per_token",
    "need_of",
    "parse_workload",
    "workload_need",
]

Precision = Literal["bf16", "fp16", "fp8", "int8", "int4"]
Mode = Literal["infer", "train"]

PRECISIONS: Final[dict[Precision, float]] = {
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "int4": 0.5,
}
KV_BYTES: Final = 2.0  # the KV cache stays 16-bit
TRAIN_BYTES_PER_PARAM: Final = 16.0  # fp16 weights + fp16 grads + fp32 master/Adam m/v
MARGIN: Final = 1.2
GB: Final = 1e9
MAX_PARAMS_B: Final = 100_000.0  # 100T: anything larger is a typo
MAX_CONTEXT: Final = 16 * 1024 * 1024


class FitError(ValueError):
    """A workload term that cannot be read; `str()` is one line."""


@dataclass(frozen=True, slots=True)
class ModelShape:
    """The attention shape that sizes a model's KV cache."""

    layers: int
    hidden: int
    kv_heads: int
    head_dim: int
    source: str  # the model the shape is taken from, or "heuristic"


# Known shapes by parameter count (billions), from the models' config.json on the
# Hugging Face Hub (num_hidden_layers, hidden_size, num_key_value_heads, head_dim).
KNOWN_SHAPES: Final[dict[float, ModelShape]] = {
    1.5: ModelShape(28, 1536, 2, 128, "Qwen2.5-1.5B"),
    3.0: ModelShape(28, 3072, 8, 128, "Llama-3.2-3B"),
    7.0: ModelShape(32, 4096, 8, 128, "Mistral-7B"),
    8.0: ModelShape(32, 4096, 8, 128, "Llama-3.1-8B"),
    14.0: ModelShape(48, 5120, 8, 128, "Qwen2.5-14B"),
    32.0: ModelShape(64, 5120, 8, 128, "Qwen2.5-32B"),
    70.0: ModelShape(80, 8192, 8, 128, "Llama-3.1-70B"),
    72.0: ModelShape(80, 8192, 8, 128, "Qwen2.5-72B"),
    405.0: ModelShape(126, 16384, 8, 128, "Llama-3.1-405B"),
}


def model_shape(params_b: float) -> ModelShape:
    """The shape of a dense model of `params_b` billion parameters (see the module doc)."""
    for size, shape in KNOWN_SHAPES.items():
        if abs(params_b - size) <= 0.05 * size:
            return shape
    hidden = (params_b * 1e9 * 128 / 12) ** (1 / 3)
    hidden = max(128, round(hidden / 128) * 128)
    return ModelShape(max(1, round(hidden / 128)), hidden, 8, 128, "heuristic")


def kv_cache_bytes_per_token(shape: ModelShape, bytes_per_value: float = KV_BYTES) -> float:
    return 2 * shape.layers * shape.kv_heads * shape.head_dim * bytes_per_value


@dataclass(frozen=True, slots=True)
class Workload:
    """A model to run: its size, precision, context and whether it trains."""

    params_b: float
    precision: Precision = "bf16"
    context: int = 0
    mode: Mode = "infer"

    def text(self) -> str:
        """The canonical term: parse_workload(w.text()) == w."""
        parts = [f"{_fmt_params(self.params_b)}@{self.precision}"]
        if self.context:
            parts.append(f"ctx={_fmt_context(self.context)}")
        if self.mode == "train":
            parts.append("train")
        return ",".join(parts)


@dataclass(frozen=True, slots=True)
class WorkloadNeed:
    """The GPU memory (and compute) a workload needs, and why."""

    workload: Workload
    shape: ModelShape
    weights_gb: float
    kv_cache_gb: float
    training_gb: float  # gradients, optimizer state and activations (0 for infer)
    total_gb: float  # everything x MARGIN
    min_compute_capability: float | None  # NVIDIA; None: any
    amd_architectures: tuple[str, ...] | None  # AMD architectures that qualify; None: any

    def per_gpu_gb(self, gpu_count: int) -> float:
        """What each of `gpu_count` GPUs holds, split evenly (tensor parallel)."""
        return self.total_gb / max(1, gpu_count)

    def fits(self, memory_gb: float | None, gpu_count: int) -> bool:
        return memory_gb is not None and memory_gb * gpu_count >= self.total_gb

    def supports(self, model: GpuSpec) -> bool:
        """May `model` run this precision? A GPU the catalog does not know may not,
        where the precision needs hardware support."""
        if self.min_compute_capability is None:
            return True
        if model.vendor == "nvidia":
            cc = model.compute_capability
            return cc is not None and cc >= self.min_compute_capability
        if model.vendor == "amd" and self.amd_architectures is not None:
            return model.architecture in self.amd_architectures
        return False

    def hardware(self) -> str:
        """The hardware the precision needs, for people ("" for none)."""
        if self.min_compute_capability is None:
            return ""
        amd = f", or AMD {', '.join(self.amd_architectures)}" if self.amd_architectures else ""
        names = {8.0: "Ampere", 8.9: "Ada/Hopper"}
        arch = names.get(self.min_compute_capability, "")
        return f"NVIDIA {arch} (compute capability {self.min_compute_capability}+) or newer{amd}"

    def explain(self) -> list[str]:
        """How the need was computed, one line per part (the offer detail shows these)."""
        w = self.workload
        bytes_pp = PRECISIONS[w.precision]
        size = _fmt_params(w.params_b)
        lines = [f"weights {size} x {bytes_pp:g} B ({w.precision}) = {self.weights_gb:.1f} GB"]
        if self.kv_cache_gb:
            per_token = kv_cache_bytes_per_token(self.shape) / 1e6
            lines.append(
                f"KV cache {_fmt_context(w.context)} tokens x {per_token:.3f} MB "
                f"({self.shape.source} shape) = {self.kv_cache_gb:.1f} GB"
            )
        if w.mode == "train":
            lines.append(
                f"training (Adam, mixed precision: {TRAIN_BYTES_PER_PARAM:g} B/param in all,"
                f" activations checkpointed) +{self.training_gb:.1f} GB"
            )
        lines.append(f"x {MARGIN:g} margin = {self.total_gb:.1f} GB total, split over the GPUs")
        if self.min_compute_capability is not None:
            lines.append(f"{w.precision} needs {self.hardware()}")
        return lines


_SIZE = re.compile(r"(?i)(\d+(?:\.\d+)?|\.\d+)\s*([bmkt])")
_CONTEXT = re.compile(r"(?i)(\d+(?:\.\d+)?)\s*(k|m)?")
_AMD_BF16: Final = ("CDNA", "CDNA 2", "CDNA 3")
_AMD_FP8: Final = ("CDNA 3",)


def parse_workload(text: str) -> Workload:
    """Read `70B@bf16,ctx=32k,train`; raises FitError with a one-line message."""
    items = [item.strip() for item in text.split(",")]
    items = [item for item in items if item]
    if not items:
        raise FitError("missing the model size (e.g. fits=70B@bf16)")
    head, _, precision_text = items[0].partition("@")
    params_b = _params(head)
    precision = (precision_text.strip().lower() or "bf16") if "@" in items[0] else "bf16"
    if precision not in PRECISIONS:
        raise FitError(
            f"unknown precision {precision_text.strip()!r} (use {', '.join(PRECISIONS)})"
        )
    context = 0
    mode: Mode = "infer"
    for item in items[1:]:
        word = item.lower()
        if word in ("train", "infer"):
            mode = "train" if word == "train" else "infer"
            continue
        key, sep, value = word.partition("=")
        if sep and key.strip() in ("ctx", "context"):
            context = _context(value.strip())
            continue
        raise FitError(f"unexpected {item!r} in a workload (use ctx=32k, train or infer)")
    if mode == "train" and PRECISIONS[precision] < 2:
        raise FitError(
            f"train is full fine-tuning in bf16 or fp16, not {precision} "
            "(quantized fine-tuning such as QLoRA is not modelled)"
        )
    return Workload(params_b, precision, context, mode)


def _params(text: str) -> float:
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise FitError(f"expected a model size like 70B or 500M, got {text.strip()!r}")
    scale = {"k": 1e-6, "m": 1e-3, "b": 1.0, "t": 1e3}[match.group(2).lower()]
    params_b = float(match.group(1)) * scale
    if not 0 < params_b <= MAX_PARAMS_B:
        raise FitError(f"model size {text.strip()!r} is out of range")
    return params_b


def _context(text: str) -> int:
    match = _CONTEXT.fullmatch(text)
    if match is None:
        raise FitError(f"expected a context like 32k or 8192, got {text!r}")
    scale = {"k": 1024, "m": 1024 * 1024}.get((match.group(2) or "").lower(), 1)
    tokens = round(float(match.group(1)) * scale)
    if not 0 < tokens <= MAX_CONTEXT:
        raise FitError(f"context {text!r} is out of range (1 to 16m tokens)")
    return tokens


def workload_need(workload: Workload) -> WorkloadNeed:
    shape = model_shape(workload.params_b)
    params = workload.params_b * 1e9
    weights = params * PRECISIONS[workload.precision]
    kv = 0.0
    training = 0.0
    if workload.mode == "infer":
        kv = workload.context * kv_cache_bytes_per_token(shape)
    else:  # training keeps no KV cache: the context shows in the activations
        activations = KV_BYTES * workload.context * shape.hidden * (2 * shape.layers + 34)
        training = params * TRAIN_BYTES_PER_PARAM - weights + activations
    total = (weights + kv + training) * MARGIN
    min_cc: float | None = None
    amd: tuple[str, ...] | None = None
    if workload.precision == "bf16":
        min_cc, amd = 8.0, _AMD_BF16
    elif workload.precision == "fp8":
        min_cc, amd = 8.9, _AMD_FP8
    return WorkloadNeed(
        workload=workload,
        shape=shape,
        weights_gb=weights / GB,
        kv_cache_gb=kv / GB,
        training_gb=training / GB,
        total_gb=math.ceil(total / GB * 100) / 100,  # whole cents of a GB: stable SQL
        min_compute_capability=min_cc,
        amd_architectures=amd,
    )


@lru_cache(maxsize=64)
def need_of(text: str) -> WorkloadNeed:
    """The need of a canonical workload term (a SearchQuery's `fits`), remembered:
    every search with the term asks for it."""
    return workload_need(parse_workload(text))


def _fmt_params(params_b: float) -> str:
    if params_b >= 1:
        return f"{params_b:g}B"
    return f"{params_b * 1000:g}M"


def _fmt_context(tokens: int) -> str:
    if tokens % (1024 * 1024) == 0:
        return f"{tokens // (1024 * 1024)}m"
    if tokens % 1024 == 0:
        return f"{tokens // 1024}k"
    return str(tokens)
