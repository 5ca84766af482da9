"""The offer detail says how a `fits=` term was computed and whether the offer holds it."""

from __future__ import annotations

from rich.console import Console

from gpucm.tui.screens.offer_detail import offer_facts
from tests.offer_factory import make_offer


def _text(gpus: int, fits: str | None) -> str:
    offer = make_offer("vast_ai", "1", "A100 80GB SXM", gpu_count=gpus, gpu_memory_gb=80.0)
    console = Console(width=120, record=True)
    console.print(offer_facts(offer, "fetched now", 50, fits))
    return console.export_text()


def test_the_detail_shows_the_arithmetic_and_the_verdict() -> None:
    two = _text(2, "70B@bf16,ctx=32k")
    assert "weights 70B x 2 B (bf16) = 140.0 GB" in two
    assert "KV cache 32k tokens" in two and "x 1.2 margin = 180.9 GB total" in two
    assert "2 x 80 GB = 160 GB, does NOT hold it" in two
    assert "4 x 80 GB = 320 GB, holds it (45.2 GB per GPU" in _text(4, "70B@bf16,ctx=32k")
    assert "Fits" not in _text(2, None)


def test_the_detail_says_whether_egress_is_billed_per_gb() -> None:
    from gpucm.domain.pricing import EGRESS_PER_GB_KEY

    vast = make_offer("vast_ai", "1", "RTX 4090", provider_data={EGRESS_PER_GB_KEY: 0.004})
    console = Console(width=120, record=True)
    console.print(offer_facts(vast, "fetched now"))
    assert "$0.0040/GB out, extra" in console.export_text()
    console = Console(width=120, record=True)
    console.print(offer_facts(make_offer("runpod", "1", "RTX 4090"), "fetched now"))
    assert "no per-GB rate in the provider's API" in console.export_text()
