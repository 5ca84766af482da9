"""Does a model fit: the arithmetic against published figures, and the term's syntax."""

from __future__ import annotations

import pytest

from gpucm.domain.catalog import Catalog
from gpucm.domain.workload_fit import (
    MARGIN,
    FitError,
    ModelShape,
    kv_cache_bytes_per_token,
    model_shape,
    parse_workload,
    workload_need,
)


def need(text: str):  # type: ignore[no-untyped-def]
    return workload_need(parse_workload(text))


def test_weights_alone_match_the_published_rule_of_two_bytes_per_parameter() -> None:
    # Hugging Face, "Optimizing your LLM in production" (huggingface.co/blog/optimize-llm):
    # "Llama-2-70b requires 2 * 70 = 140 GB VRAM" in bfloat16, "Falcon-40b ... 80 GB".
    assert need("70B@bf16").weights_gb == pytest.approx(140.0)
    assert need("40B@fp16").weights_gb == pytest.approx(80.0)
    # the same post: 8-bit halves and 4-bit quarters the bfloat16 figure
    assert need("70B@int8").weights_gb == pytest.approx(70.0)
    assert need("70B@int4").weights_gb == pytest.approx(35.0)
    # without a context only the weights and the margin count
    assert need("70B@bf16").total_gb == pytest.approx(140.0 * MARGIN)


def test_kv_cache_per_token_matches_nvidias_worked_example() -> None:
    # NVIDIA, "Mastering LLM Techniques: Inference Optimization" (developer.nvidia.com
    # blog): KV cache per token = 2 x layers x (heads x head size) x bytes; Llama 2 7B in
    # 16-bit is ~0.5 MB a token, and 4,096 tokens ~2 GB.
    llama2_7b = ModelShape(layers=32, hidden=4096, kv_heads=32, head_dim=128, source="Llama-2-7B")
    per_token = kv_cache_bytes_per_token(llama2_7b)
    assert per_token == 524_288
    assert per_token * 4096 / 2**30 == pytest.approx(2.0)


def test_a_known_size_takes_its_shape_and_an_odd_size_a_plausible_one() -> None:
    # Llama 3.1 70B config.json: 80 layers, 8 KV heads of 128 -> 327,680 bytes a token
    assert kv_cache_bytes_per_token(model_shape(70)) == 327_680
    odd = model_shape(50)
    assert odd.source == "heuristic"
    # 12 x layers x hidden^2 recovers the size within a quarter
    assert 12 * odd.layers * odd.hidden**2 / 1e9 == pytest.approx(50, rel=0.25)


def test_the_context_adds_its_kv_cache() -> None:
    with_ctx = need("70B@bf16,ctx=32k")
    assert with_ctx.kv_cache_gb == pytest.approx(32 * 1024 * 327_680 / 1e9)
    assert with_ctx.total_gb == pytest.approx((140 + with_ctx.kv_cache_gb) * MARGIN, abs=0.01)


def test_training_counts_sixteen_bytes_a_parameter() -> None:
    # ZeRO (Rajbhandari et al. 2019, sec. 3.1): mixed-precision Adam holds 2 + 2 + 12 =
    # 16 bytes per parameter; a 7.5B model needs 120 GB before activations.
    trained = need("7.5B@bf16,train")
    assert trained.weights_gb + trained.training_gb == pytest.approx(120.0)
    assert trained.kv_cache_gb == 0
    longer = need("7.5B@bf16,ctx=4k,train")
    assert longer.training_gb > trained.training_gb  # activations grow with the context


def test_precisions_that_need_hardware() -> None:
    catalog = Catalog.builtin()
    fp8, bf16, int4 = need("8B@fp8"), need("8B@bf16"), need("8B@int4")
    h100, l4, a100, t4 = (catalog.get(n) for n in ("H100", "L4", "A100 80GB SXM", "T4"))
    mi300x, mi250 = catalog.get("MI300X"), catalog.get("MI250")
    assert h100 and l4 and a100 and t4 and mi300x and mi250
    assert [fp8.supports(m) for m in (h100, l4, a100, t4, mi300x, mi250)] == [
        True, True, False, False, True, False,
    ]  # fmt: skip
    assert [bf16.supports(m) for m in (a100, t4, mi250)] == [True, False, True]
    assert all(int4.supports(m) for m in catalog.models)


def test_tensor_parallel_split_is_even() -> None:
    fit = need("70B@bf16")  # 168 GB
    assert fit.per_gpu_gb(4) == pytest.approx(42.0)
    assert fit.fits(48.0, 4) and not fit.fits(80.0, 2) and not fit.fits(None, 8)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("70b", "70B@bf16"),
        ("70B@BF16, ctx=32768 ,TRAIN", "70B@bf16,ctx=32k,train"),
        ("500m@int4,infer", "500M@int4"),
        ("1.5B@fp8,context=8k", "1.5B@fp8,ctx=8k"),
    ],
)
def test_the_term_reads_and_prints_canonically(text: str, canonical: str) -> None:
    assert parse_workload(text).text() == canonical
    assert parse_workload(canonical) == parse_workload(text)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "missing the model size"),
        ("70", "model size like 70B"),
        ("70B@bf17", "unknown precision"),
        ("70B@int4,train", "train is full fine-tuning"),
        ("70B,ctx=lots", "context like 32k"),
        ("70B,ctx=0", "out of range"),
        ("70B,fast", "unexpected 'fast'"),
        ("0B", "out of range"),
    ],
)
def test_bad_terms_say_what_is_wrong(text: str, needle: str) -> None:
    with pytest.raises(FitError, match=needle):
        parse_workload(text)
