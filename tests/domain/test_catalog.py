"""The GPU catalog: data file integrity, score formula, name normalisation, user file, reload."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from gpucm.domain.catalog import (
    MAX_SCORE,
    Catalog,
    CatalogError,
    CatalogSource,
    score_from_specs,
)
from gpucm.domain.models import GpuModel

REPO = Path(__file__).resolve().parents[2]
FIXTURE_DIRS = (REPO / "tests" / "fixtures" / "providers",)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.builtin()


def _raw_entries() -> list[dict[str, Any]]:
    raw = resources.files("gpucm.domain").joinpath("gpu_catalog.toml").read_bytes()
    entries: list[dict[str, Any]] = tomllib.loads(raw.decode())["gpu"]
    return entries


def _key(text: str) -> str:
    return " ".join("".join(c if c.isalnum() else " " for c in text.casefold()).split())


# --- data file ---------------------------------------------------------------------------


def test_catalog_has_at_least_60_models(catalog: Catalog) -> None:
    assert len(catalog.models) >= 60


def test_names_are_unique(catalog: Catalog) -> None:
    names = [m.name.casefold() for m in catalog.models]
    assert len(names) == len(set(names))


def test_no_spelling_names_two_models() -> None:
    owner: dict[str, str] = {}
    for entry in _raw_entries():
        spellings = [entry["name"], *entry.get("aliases", [])]
        keys = [_key(s) for s in spellings]
        # a spelling that only differs from another of the same model by separators is noise
        assert len(keys) == len(set(keys)), f"{entry['name']}: redundant aliases {spellings}"
        for key in keys:
            assert owner.setdefault(key, entry["name"]) == entry["name"], (
                f"{key!r} names both {owner[key]} and {entry['name']}"
            )


def test_entries_use_exactly_the_model_fields() -> None:
    allowed = set(GpuModel.model_fields)
    for entry in _raw_entries():
        assert set(entry) <= allowed, entry["name"]
        # Every entry validates on its own, not only through the loader's defaults.
        GpuModel.model_validate(entry)


def test_every_model_resolves_from_each_of_its_spellings(catalog: Catalog) -> None:
    for model in catalog.models:
        for spelling in (model.name, *model.aliases):
            assert catalog.resolve(spelling) == model, spelling
            assert catalog.resolve(spelling, model.memory_gb) == model, spelling


def test_field_sanity(catalog: Catalog) -> None:
    for m in catalog.models:
        assert m.vendor in ("nvidia", "amd", "intel"), m.name
        assert m.category in ("consumer", "professional", "datacenter"), m.name
        assert m.memory_gb > 0, m.name
        assert m.form_factor in (None, "PCIe", "SXM", "NVL", "OAM"), m.name
        if m.vendor == "nvidia":
            assert m.compute_capability is not None, m.name
        else:
            assert m.compute_capability is None, m.name
        if m.fp16_tflops is not None and m.fp32_tflops is not None:
            assert m.fp16_tflops >= m.fp32_tflops, m.name


def test_families_are_consistent(catalog: Catalog) -> None:
    for family in catalog.families():
        members = catalog.expand(family)
        assert members, family
        models = [catalog.get(n) for n in members]
        assert all(m is not None and m.family == family for m in models), family
        assert len({m.vendor for m in models if m}) == 1, family
    assert len(catalog.families()) == len({_key(f) for f in catalog.families()})


ORIGINAL_SPEC_MODELS = [
    ("RTX 4090", "RTX 4090"),
    ("RTX 4080", "RTX 4080"),
    ("RTX 4070", "RTX 4070"),
    ("RTX 3090", "RTX 3090"),
    ("RTX 3080", "RTX 3080"),
    ("A6000", "RTX A6000"),
    ("A40", "A40"),
    ("Quadro RTX 8000", "Quadro RTX 8000"),
    ("H100", "H100"),
    ("A100", "A100 80GB SXM"),
    ("V100", "V100 16GB"),
    ("RX 7900 XTX", "RX 7900 XTX"),
    ("RX 6900 XT", "RX 6900 XT"),
]


@pytest.mark.parametrize(("spelling", "expected"), ORIGINAL_SPEC_MODELS)
def test_original_spec_models_are_present(catalog: Catalog, spelling: str, expected: str) -> None:
    assert catalog.resolve(spelling).name == expected


MARKET_MODELS = """
RTX 2080 Ti, RTX 3060, RTX 3060 Ti, RTX 3070, RTX 3070 Ti, RTX 3080 Ti, RTX 3090 Ti,
RTX 4060 Ti 16GB, RTX 4060 Ti 8GB, RTX 4070 Ti, RTX 4070 Super, RTX 4070 Ti Super,
RTX 4080 Super, RTX 5070, RTX 5070 Ti, RTX 5080, RTX 5090, RTX A2000, RTX A4000, RTX A4500,
RTX A5000, RTX A6000, RTX 2000 Ada, RTX 4000 Ada, RTX 4500 Ada, RTX 5000 Ada, RTX 6000 Ada,
RTX PRO 6000, Quadro RTX 4000, Quadro RTX 5000, Quadro RTX 6000, Quadro RTX 8000, Quadro P4000,
GTX 1080 Ti, T4, P100, V100 16GB, V100 32GB, L4, L40, L40S, A10, A16, A30, A40, A100 40GB PCIe,
A100 40GB SXM, A100 80GB PCIe, A100 80GB SXM, H100, H100 PCIe, H100 NVL, H200 SXM, H200 NVL,
GH200, B200, B300, MI300X, MI250, MI210, MI325X, RX 7900 XTX, RX 6900 XT
"""


def test_rental_market_models_are_present(catalog: Catalog) -> None:
    names = [n.strip() for n in MARKET_MODELS.replace("\n", " ").split(",")]
    missing = [n for n in names if catalog.get(n) is None]
    assert not missing


def test_seed_values(catalog: Catalog) -> None:
    rtx = catalog.get("RTX 4090")
    assert rtx is not None
    assert (rtx.memory_gb, rtx.compute_capability, rtx.architecture) == (24, 8.9, "Ada Lovelace")
    assert (rtx.category, rtx.performance_score, rtx.family) == ("consumer", 100, "RTX 4090")
    h100 = catalog.get("H100")
    assert h100 is not None
    assert (h100.memory_gb, h100.compute_capability, h100.architecture) == (80, 9.0, "Hopper")
    assert (h100.category, h100.performance_score, h100.family) == ("datacenter", 150, "H100")
    assert h100.form_factor == "SXM"
    assert {"H100 SXM", "H100 SXM5", "H100 80GB HBM3"} <= set(h100.aliases)
    assert catalog.expand("H100") == ("H100", "H100 PCIe", "H100 NVL")
    assert set(catalog.expand("A100")) == {
        "A100 40GB PCIe",
        "A100 40GB SXM",
        "A100 80GB PCIe",
        "A100 80GB SXM",
    }


# --- performance score -------------------------------------------------------------------


def test_score_anchors() -> None:
    assert score_from_specs(fp16_tflops=165.2, memory_bandwidth_gbps=1008) == 100
    assert score_from_specs(fp16_tflops=989.5, memory_bandwidth_gbps=3350) == 150


def test_score_is_clamped_to_the_api_range() -> None:
    assert score_from_specs(fp16_tflops=5000, memory_bandwidth_gbps=10000) == MAX_SCORE
    assert score_from_specs(fp16_tflops=0.01, memory_bandwidth_gbps=1) == 0


def test_score_falls_back_to_fp32_then_to_one_term() -> None:
    fp32 = score_from_specs(fp16_tflops=None, fp32_tflops=11.3, memory_bandwidth_gbps=484)
    assert fp32 == score_from_specs(fp16_tflops=11.3, memory_bandwidth_gbps=484)
    assert score_from_specs(fp16_tflops=165.2, memory_bandwidth_gbps=None) == 100
    assert score_from_specs(fp16_tflops=None, memory_bandwidth_gbps=1008) == 100
    with pytest.raises(ValueError, match="need"):
        score_from_specs(fp16_tflops=None, memory_bandwidth_gbps=None)


def test_score_is_monotonic_in_each_spec() -> None:
    base = score_from_specs(fp16_tflops=100, memory_bandwidth_gbps=500)
    assert score_from_specs(fp16_tflops=200, memory_bandwidth_gbps=500) > base
    assert score_from_specs(fp16_tflops=100, memory_bandwidth_gbps=1000) > base


def test_every_stored_score_follows_the_formula(catalog: Catalog) -> None:
    wrong = {
        m.name: (m.performance_score, expected)
        for m in catalog.models
        if m.performance_score
        != (
            expected := score_from_specs(
                fp16_tflops=m.fp16_tflops,
                memory_bandwidth_gbps=m.memory_bandwidth_gbps,
                fp32_tflops=m.fp32_tflops,
            )
        )
    }
    assert not wrong, f"stored vs formula: {wrong}"


def test_scores_order_well_known_pairs(catalog: Catalog) -> None:
    def score(name: str) -> int:
        model = catalog.get(name)
        assert model is not None, name
        return model.performance_score

    assert score("H100") > score("H100 PCIe") > score("A100 80GB SXM") > score("RTX 4090")
    assert score("RTX 4090") > score("RTX 3090") > score("RTX 3080") > score("T4")
    assert score("L40S") > score("L40")
    assert score("A100 80GB SXM") > score("A100 40GB SXM")


# --- normalisation -----------------------------------------------------------------------

# (provider spelling, memory per GPU the provider reports, expected canonical name or None
# for "unknown"). Covers every GPU-name field of the provider fixtures plus known variants.
SPELLINGS: list[tuple[str, float | None, str | None]] = [
    # Vast.ai gpu_name (+ gpu_ram / 1024)
    ("RTX 4090", 24, "RTX 4090"),
    ("RTX 3090", 24, "RTX 3090"),
    ("H100 SXM", 80, "H100"),
    ("A100 SXM4", 40, "A100 40GB SXM"),
    ("A100 SXM4", 80, "A100 80GB SXM"),
    ("A100 SXM4", None, "A100 80GB SXM"),
    ("RTX A6000", 48, "RTX A6000"),
    ("L40S", 45, "L40S"),
    ("RTX 5090", 32, "RTX 5090"),
    ("Tesla V100", 16, "V100 16GB"),
    ("Tesla V100", 32, "V100 32GB"),
    ("Tesla V100", None, "V100 16GB"),
    ("RTX_4090", None, "RTX 4090"),
    ("RTX 4000Ada", None, "RTX 4000 Ada"),
    ("RTX 4000Ada", 20, "RTX 4000 Ada"),
    ("RTX 6000Ada", 48, "RTX 6000 Ada"),
    ("Q RTX 8000", 48, "Quadro RTX 8000"),
    ("H100 PCIE", 80, "H100 PCIe"),
    ("H100 NVL", 94, "H100 NVL"),
    ("A100 PCIE", 80, "A100 80GB PCIe"),
    ("A100 PCIE", 40, "A100 40GB PCIe"),
    ("A100 PCIE", None, "A100 80GB PCIe"),
    ("A100X", 80, "A100 80GB PCIe"),
    ("Tesla T4", 16, "T4"),
    ("Tesla P40", 24, "P40"),
    ("Tesla P100", 16, "P100"),
    ("RTX 3090 Ti", 24, "RTX 3090 Ti"),
    ("RTX 4070S", 12, "RTX 4070 Super"),
    ("RTX 4070S Ti", 16, "RTX 4070 Ti Super"),
    ("RTX 4080S", 16, "RTX 4080 Super"),
    ("RTX 4090D", 24, "RTX 4090D"),
    ("RTX 4060 Ti", 16, "RTX 4060 Ti 16GB"),
    ("RTX 4060 Ti", 8, "RTX 4060 Ti 8GB"),
    ("RTX 4060 Ti", None, "RTX 4060 Ti 16GB"),
    ("GTX 1080 Ti", 11, "GTX 1080 Ti"),
    # RunPod id / displayName / gpuDisplayName / gpuTypeId (+ memoryInGb)
    ("NVIDIA GeForce RTX 4090", 24, "RTX 4090"),
    ("NVIDIA GeForce RTX 3090", 24, "RTX 3090"),
    ("NVIDIA RTX A6000", 48, "RTX A6000"),
    ("NVIDIA RTX A5000", 24, "RTX A5000"),
    ("RTX A5000", 24, "RTX A5000"),
    ("NVIDIA A40", 48, "A40"),
    ("A40", 48, "A40"),
    ("NVIDIA L40S", 48, "L40S"),
    ("L40S", 48, "L40S"),
    ("NVIDIA RTX 6000 Ada Generation", 48, "RTX 6000 Ada"),
    ("RTX 6000 Ada", 48, "RTX 6000 Ada"),
    ("RTX 6000 Ada", None, "RTX 6000 Ada"),
    ("NVIDIA A100 80GB PCIe", 80, "A100 80GB PCIe"),
    ("A100 PCIe", 80, "A100 80GB PCIe"),
    ("NVIDIA A100-SXM4-80GB", 80, "A100 80GB SXM"),
    ("A100 SXM", 80, "A100 80GB SXM"),
    ("NVIDIA H100 PCIe", 80, "H100 PCIe"),
    ("H100 PCIe", 80, "H100 PCIe"),
    ("NVIDIA H100 80GB HBM3", 80, "H100"),
    ("NVIDIA H100 80GB HBM3", None, "H100"),
    ("NVIDIA H100 NVL", 94, "H100 NVL"),
    ("NVIDIA H100 NVL", None, "H100 NVL"),
    ("H100 NVL", None, "H100 NVL"),
    ("NVIDIA H200", 141, "H200 SXM"),
    ("NVIDIA H200", None, "H200 SXM"),
    ("H200 SXM", 141, "H200 SXM"),
    ("NVIDIA H200 NVL", 141, "H200 NVL"),
    ("NVIDIA GeForce RTX 5090", 32, "RTX 5090"),
    ("NVIDIA L4", 24, "L4"),
    ("L4", 24, "L4"),
    ("AMD Instinct MI300X OAM", 192, "MI300X"),
    ("MI300X", 192, "MI300X"),
    ("NVIDIA GeForce RTX 3070", 8, "RTX 3070"),
    ("RTX 3070", 8, "RTX 3070"),
    ("NVIDIA GeForce RTX 3080", 10, "RTX 3080"),
    ("RTX 3080", 10, "RTX 3080"),
    ("NVIDIA RTX A4000", None, "RTX A4000"),
    ("RTX A4000", None, "RTX A4000"),
    ("RTX 4090", None, "RTX 4090"),
    ("RTX A6000", None, "RTX A6000"),
    ("H100 SXM", None, "H100"),
    ("L40S", None, "L40S"),
    ("NVIDIA L40S", None, "L40S"),
    ("NVIDIA GeForce RTX 4090", None, "RTX 4090"),
    ("RTX 4070 Ti SUPER", None, "RTX 4070 Ti Super"),
    # RunPod lowestPrice.gpuTypeId: the id with no memory beside it
    ("AMD Instinct MI300X OAM", None, "MI300X"),
    ("NVIDIA A100 80GB PCIe", None, "A100 80GB PCIe"),
    ("NVIDIA A100-SXM4-80GB", None, "A100 80GB SXM"),
    ("NVIDIA A40", None, "A40"),
    ("NVIDIA GeForce RTX 3090", None, "RTX 3090"),
    ("NVIDIA GeForce RTX 5090", None, "RTX 5090"),
    ("NVIDIA H100 PCIe", None, "H100 PCIe"),
    ("NVIDIA L4", None, "L4"),
    ("NVIDIA RTX 6000 Ada Generation", None, "RTX 6000 Ada"),
    ("NVIDIA RTX A5000", None, "RTX A5000"),
    ("NVIDIA RTX A6000", None, "RTX A6000"),
    # Lambda gpu_description (memory inside the name)
    ("H100 (80 GB SXM5)", None, "H100"),
    ("H100 (80 GB PCIe)", None, "H100 PCIe"),
    ("A10 (24 GB PCIe)", None, "A10"),
    ("A100 (40 GB PCIe)", None, "A100 40GB PCIe"),
    ("A100 (40 GB SXM4)", None, "A100 40GB SXM"),
    ("A100 (80 GB SXM4)", None, "A100 80GB SXM"),
    ("A6000 (48 GB)", None, "RTX A6000"),
    ("RTX 6000 (24 GB)", None, "Quadro RTX 6000"),
    ("GH200 (96 GB)", None, "GH200"),
    ("B200 (180 GB SXM6)", None, "B200"),
    ("Tesla V100 (16 GB)", None, "V100 16GB"),
    ("Tesla V100 (16 GB)", 16, "V100 16GB"),
    # Paperspace machineType / machineTypeLabel / gpuModel / accelerators[].name
    ("P4000", 8, "Quadro P4000"),
    ("P4000", None, "Quadro P4000"),
    ("Quadro P4000", 8, "Quadro P4000"),
    ("RTX4000", 8, "Quadro RTX 4000"),
    ("RTX4000", None, "Quadro RTX 4000"),
    ("Quadro RTX 4000", 8, "Quadro RTX 4000"),
    ("A4000", 16, "RTX A4000"),
    ("A4000", None, "RTX A4000"),
    ("A4000x2", 16, "RTX A4000"),
    ("A4000x2", None, "RTX A4000"),
    ("A4000x4", 16, "RTX A4000"),
    ("P4000x2", 8, "Quadro P4000"),
    ("V100", 16, "V100 16GB"),
    ("V100-32Gx2", 32, "V100 32GB"),
    ("V100-32Gx4", 32, "V100 32GB"),
    ("RTX A4000", 16, "RTX A4000"),
    ("A5000", 24, "RTX A5000"),
    ("A5000", None, "RTX A5000"),
    ("A6000", 48, "RTX A6000"),
    ("A6000", None, "RTX A6000"),
    ("V100-32G", 32, "V100 32GB"),
    ("V100-32G", None, "V100 32GB"),
    ("A100-80G", 80, "A100 80GB SXM"),
    ("A100-80G", None, "A100 80GB SXM"),
    ("A100-80Gx8", 80, "A100 80GB SXM"),
    ("A100-80Gx8", None, "A100 80GB SXM"),
    ("A100", 80, "A100 80GB SXM"),
    ("H100", 80, "H100"),
    ("H100", None, "H100"),
    ("H100x8", 80, "H100"),
    ("H100x8", None, "H100"),
    ("GRID K160Q (2GB)", None, None),  # legacy API vGPU profile: not a rentable GPU
    # look-alikes that must stay apart
    ("RTX 6000", 24, "Quadro RTX 6000"),
    ("RTX 6000", None, "Quadro RTX 6000"),
    ("RTX 6000", 48, "RTX 6000 Ada"),
    ("RTX 6000", 96, "RTX PRO 6000"),
    ("RTX 4000", None, "Quadro RTX 4000"),
    ("RTX 4000", 20, "RTX 4000 Ada"),
    ("RTX 4000 Ada", None, "RTX 4000 Ada"),
    ("RTX 5000", 32, "RTX 5000 Ada"),
    ("Quadro RTX 6000", None, "Quadro RTX 6000"),
    ("A10", None, "A10"),
    ("A10G", 24, None),
    ("A100", None, "A100 80GB SXM"),
    ("A100", 40, "A100 40GB SXM"),
    ("L40", None, "L40"),
    ("L40", 48, "L40"),
    ("RTX 4070", None, "RTX 4070"),
    ("RTX 4070 Ti", None, "RTX 4070 Ti"),
    ("RTX 4070 Super", None, "RTX 4070 Super"),
    ("RTX 4070 SUPER", None, "RTX 4070 Super"),
    ("RTX 3060", None, "RTX 3060"),
    ("RTX 3060 Ti", None, "RTX 3060 Ti"),
    ("RTX 4090 D", None, "RTX 4090D"),
    ("RX 7900 XTX", None, "RX 7900 XTX"),
    ("Radeon RX 7900 XTX", None, "RX 7900 XTX"),
    ("RX 7900 XT", None, None),
    ("RX 6900 XT", None, "RX 6900 XT"),
    ("MI300X", None, "MI300X"),
    ("MI250", None, "MI250"),
    ("MI250X", None, "MI250X"),
    ("H100", 94, "H100 NVL"),
    ("H200", None, "H200 SXM"),
    ("GH200 (144 GB)", None, None),  # the HBM3e GH200 is another part
    ("RTX 5090", None, "RTX 5090"),
    ("RTX A2000", 6, "RTX A2000"),
    ("NVIDIA RTX PRO 6000 Blackwell Server Edition", 96, "RTX PRO 6000"),
    ("Mystery GPU 9000", 12, None),
    ("NVIDIA A100 80GB PCIe MIG 1g.10gb", 10, None),
]


def test_spelling_table_has_no_duplicates() -> None:
    keys = [(raw, memory) for raw, memory, _ in SPELLINGS]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize(("raw", "memory", "expected"), SPELLINGS)
def test_resolve(catalog: Catalog, raw: str, memory: float | None, expected: str | None) -> None:
    model = catalog.resolve(raw, memory)
    if expected is None:
        assert model == GpuModel.unknown(raw, memory)
        assert model.is_unknown
    else:
        assert model.name == expected


def test_resolve_is_case_and_separator_insensitive(catalog: Catalog) -> None:
    for raw in ("rtx 4090", "RTX-4090", "rtx_4090", "  RTX   4090 ", "nvidia geforce rtx 4090"):
        assert catalog.resolve(raw).name == "RTX 4090"


def test_unknown_keeps_the_raw_name_and_memory(catalog: Catalog) -> None:
    model = catalog.resolve("Mystery GPU 9000", 12.0)
    assert (model.name, model.memory_gb, model.performance_score) == ("Mystery GPU 9000", 12.0, 0)
    assert model.is_unknown


def test_zero_memory_counts_as_unreported(catalog: Catalog) -> None:
    assert catalog.resolve("A100 SXM4", 0).name == "A100 80GB SXM"


def _fixture_root() -> Path | None:
    return next((d for d in FIXTURE_DIRS if d.is_dir()), None)


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _fixture_spellings(root: Path) -> set[tuple[str, float | None]]:
    """Every GPU-name field of the provider fixtures, with the memory reported beside it."""
    found: set[tuple[str, float | None]] = set()

    def add(raw: Any, memory: Any = None) -> None:
        if isinstance(raw, str) and raw and raw not in ("N/A", "unknown"):
            found.add((raw, float(round(memory)) if memory else None))

    for path in sorted(root.rglob("*.json")):
        provider = path.parent.name
        for node in _walk(json.loads(path.read_text())):
            if provider == "vastai" and "gpu_name" in node:
                add(node["gpu_name"], (node.get("gpu_ram") or 0) / 1024)
            elif provider == "runpod":
                if "displayName" in node:
                    add(node.get("id"), node.get("memoryInGb"))
                    add(node["displayName"], node.get("memoryInGb"))
                if "pool" in node:
                    add(node.get("id"), node.get("memory"))
                    add(node.get("name"), node.get("memory"))
                for key in ("gpuDisplayName", "gpuTypeId"):
                    add(node.get(key))
                for gpu_type in node.get("gpuTypeIds", []):
                    add(gpu_type)
            elif provider == "lambda":
                add(node.get("gpu_description"))
            elif provider == "paperspace":
                label = node.get("machineTypeLabel")
                if isinstance(label, str) and not label.startswith("C"):
                    add(label)
                if node.get("gpuCount"):
                    add(node.get("machineType"), node.get("gpuMemoryGb"))
                    add(node.get("gpuModel"), node.get("gpuMemoryGb"))
                accelerators = node.get("accelerators") or []
                for acc in accelerators:
                    add(acc.get("name"), acc.get("memory"))
                if accelerators:
                    add(node.get("machineType"), accelerators[0].get("memory"))
                add(node.get("gpu"))
    return found


def test_every_fixture_spelling_is_covered(catalog: Catalog) -> None:
    root = _fixture_root()
    assert root is not None, "tests/fixtures/providers is missing"
    expected = {(raw, float(m) if m else None): name for raw, m, name in SPELLINGS}
    spellings = _fixture_spellings(root)
    assert len(spellings) > 50  # the walker found the fixtures' GPU fields
    missing = sorted(s for s in spellings if s not in expected)
    assert not missing, f"add these fixture spellings to SPELLINGS: {missing}"
    wrong = {}
    for raw, memory in spellings:
        model = catalog.resolve(raw, memory)
        got = None if model.is_unknown else model.name
        if got != expected[raw, memory]:
            wrong[raw, memory] = got
    assert not wrong


def test_resolve_is_fast_for_a_large_refresh(catalog: Catalog) -> None:
    names = [raw for raw, _, _ in SPELLINGS]
    offers = [(names[i % len(names)], 8.0 + i % 7) for i in range(100_000)]
    fresh = Catalog(catalog.models)  # empty caches
    start = time.perf_counter()
    for raw, memory in offers:
        fresh.resolve(raw, memory)
    assert time.perf_counter() - start < 2.0


# --- lookup helpers ----------------------------------------------------------------------


def test_get_is_by_canonical_name_only(catalog: Catalog) -> None:
    assert catalog.get("h100 pcie") == catalog.resolve("H100 PCIe")
    assert catalog.get("  RTX 4090 ") is not None
    assert catalog.get("A6000") is None  # an alias, not a name
    assert catalog.get("Mystery") is None


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("H100", ("H100", "H100 PCIe", "H100 NVL")),
        ("h100", ("H100", "H100 PCIe", "H100 NVL")),
        ("NVIDIA H100", ("H100", "H100 PCIe", "H100 NVL")),
        ("A100", ("A100 80GB SXM", "A100 80GB PCIe", "A100 40GB SXM", "A100 40GB PCIe")),
        ("v100", ("V100 16GB", "V100 32GB")),
        ("H200", ("H200 SXM", "H200 NVL")),
        ("RTX 4090", ("RTX 4090",)),
        ("rtx 4090", ("RTX 4090",)),
        ("H100 PCIe", ("H100 PCIe",)),
        ("h100 pcie", ("H100 PCIe",)),
        ("H100 SXM", ("H100",)),
        ("A100 80GB SXM", ("A100 80GB SXM",)),
        ("a100 80gb sxm", ("A100 80GB SXM",)),
        ("A6000", ("RTX A6000",)),
        ("NVIDIA H100 80GB HBM3", ("H100",)),
        ("A100 SXM4", ("A100 80GB SXM", "A100 40GB SXM")),
        ("A100-80G", ("A100 80GB SXM", "A100 80GB PCIe")),
        ("H100 (80 GB PCIe)", ("H100 PCIe",)),
        ("RTX 6000", ("Quadro RTX 6000",)),
        ("RTX 4070", ("RTX 4070",)),
        ("L40", ("L40",)),
        ("Mystery GPU 9000", ("Mystery GPU 9000",)),
        ("A10G", ("A10G",)),
    ],
)
def test_expand(catalog: Catalog, term: str, expected: tuple[str, ...]) -> None:
    assert catalog.expand(term) == expected


def test_expand_returns_canonical_names(catalog: Catalog) -> None:
    for family in catalog.families():
        for name in catalog.expand(family):
            assert catalog.get(name) is not None


def test_families_and_categories(catalog: Catalog) -> None:
    families = catalog.families()
    assert len(families) == len(set(families))
    assert {"H100", "A100", "V100", "H200", "RTX 4090"} <= set(families)
    groups = catalog.by_category()
    assert list(groups) == ["consumer", "professional", "datacenter"]
    assert sum(len(ms) for ms in groups.values()) == len(catalog.models)
    assert all(m.category == c for c, ms in groups.items() for m in ms)


def test_builtin_is_cached() -> None:
    assert Catalog.builtin() is Catalog.builtin()
    assert Catalog.load(None) is Catalog.builtin()


def test_constructor_rejects_a_spelling_shared_by_two_models(catalog: Catalog) -> None:
    a100 = catalog.get("A100 40GB PCIe")
    assert a100 is not None
    clash = a100.model_copy(update={"name": "Clash", "aliases": ("RTX 6000",)})
    with pytest.raises(CatalogError, match="names both"):
        Catalog([*catalog.models, clash])


def test_the_packaged_catalog_indexes_its_spellings_when_first_resolving(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("gpucm.domain.catalog._builtin", None)  # as a new process
    fresh = Catalog.builtin()
    assert fresh.get("H100") is not None  # a name needs no index
    assert not fresh._indexed
    assert fresh.resolve("NVIDIA H100 80GB HBM3").name == "H100"
    assert fresh._indexed
    # a user's models are checked as they are read, not at the first resolve
    assert Catalog(fresh.models)._indexed


def test_the_packaged_catalog_is_one_wherever_its_parse_is_kept(tmp_path: Path) -> None:
    assert Catalog.builtin(tmp_path / "a.json") is Catalog.builtin(tmp_path / "b.json")
    assert Catalog.builtin(tmp_path / "a.json") is Catalog.builtin()


def _builtin_from(cache: Path) -> Catalog:
    import gpucm.domain.catalog as module

    kept = module._builtin
    module._builtin = None  # another process, as far as the cache is concerned
    try:
        return Catalog.builtin(cache)
    finally:
        module._builtin = kept


def test_the_packaged_catalogs_parse_is_kept_under_its_hash(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache" / "gpu_catalog.json"
    assert _builtin_from(cache).models == catalog.models
    kept = json.loads(cache.read_text())
    assert kept["gpu"] == _raw_entries()
    assert [p.name for p in cache.parent.iterdir()] == [cache.name]  # no temporary left

    def no_toml(raw: bytes, source: str) -> list[dict[str, Any]]:
        raise AssertionError("the TOML was parsed again")

    import gpucm.domain.catalog as module

    with monkeypatch.context() as patch:
        patch.setattr(module, "_entries_from_toml", no_toml)
        assert _builtin_from(cache).models == catalog.models  # read from the cache

    # a changed catalog file (another hash) is parsed afresh, and kept in its turn
    cache.write_text(json.dumps({**kept, "sha256": "0" * 64, "gpu": kept["gpu"][:1]}))
    assert _builtin_from(cache).models == catalog.models
    assert json.loads(cache.read_text())["sha256"] == kept["sha256"]
    # a damaged cache is parsed afresh too
    cache.write_text("{not json")
    assert _builtin_from(cache).models == catalog.models
    assert json.loads(cache.read_text()) == kept


def test_a_cache_that_cannot_be_written_costs_only_time(tmp_path: Path, catalog: Catalog) -> None:
    blocked = tmp_path / "a file"
    blocked.write_text("")
    assert _builtin_from(blocked / "gpu_catalog.json").models == catalog.models


# --- user file ---------------------------------------------------------------------------

NEW_GPU = """
[[gpu]]
name = "Test GPU"
vendor = "nvidia"
category = "datacenter"
architecture = "Test"
memory_gb = 40
compute_capability = 9.0
fp16_tflops = 165.2
memory_bandwidth_gbps = 1008
aliases = ["TGPU-40"]
"""


def test_user_file_overrides_and_extends(tmp_path: Path, catalog: Catalog) -> None:
    user = tmp_path / "gpus.toml"
    user.write_text(
        NEW_GPU
        + """
[[gpu]]
name = "rtx 4090"
tdp_watts = 400
aliases = ["My 4090"]

[[gpu]]
name = "H100 PCIe"
fp16_tflops = 989.5
memory_bandwidth_gbps = 3350
"""
    )
    loaded = Catalog.load(user)
    assert len(loaded.models) == len(catalog.models) + 1
    assert loaded.models[-1].name == "Test GPU"
    new = loaded.resolve("TGPU-40")
    assert (new.name, new.family, new.performance_score) == ("Test GPU", "Test GPU", 100)
    assert loaded.expand("test gpu") == ("Test GPU",)

    rtx = loaded.get("RTX 4090")
    original = catalog.get("RTX 4090")
    assert rtx is not None
    assert original is not None
    assert rtx.name == "RTX 4090"
    assert rtx.tdp_watts == 400
    assert rtx.memory_gb == original.memory_gb
    assert rtx.performance_score == 100
    assert loaded.models.index(rtx) == catalog.models.index(original)
    assert loaded.resolve("My 4090") == rtx

    pcie = loaded.get("H100 PCIe")
    assert pcie is not None
    assert pcie.performance_score == 150
    assert catalog.get("RTX 4090") == original  # the builtin is untouched


def test_user_file_may_set_the_score_itself(tmp_path: Path) -> None:
    user = tmp_path / "gpus.toml"
    user.write_text('[[gpu]]\nname = "RTX 4090"\nperformance_score = 120\n')
    model = Catalog.load(user).get("RTX 4090")
    assert model is not None
    assert model.performance_score == 120


def test_missing_user_file_is_the_builtin(tmp_path: Path) -> None:
    assert Catalog.load(tmp_path / "nope.toml") is Catalog.builtin()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('[[gpu]\nname = "x"', "invalid TOML"),
        ('[[gpu]]\nname = "RTX 4090"\ncolour = "red"', "colour"),
        ('[[gpu]]\nname = "RTX 4090"\nvendor = "nvida"', "vendor"),
        ('[[gpu]]\nname = "RTX 4090"\nperformance_score = 151', "performance_score"),
        ('[[gpu]]\nname = "RTX 4090"\nmemory_gb = "lots"', "memory_gb"),
        (NEW_GPU.replace('vendor = "nvidia"\n', ""), "vendor"),
        (NEW_GPU.replace("fp16_tflops = 165.2\nmemory_bandwidth_gbps = 1008\n", ""), "specs"),
        ('[[gpu]]\nname = "RTX 6000 Ada"\naliases = ["RTX 6000"]', "names both"),
        (NEW_GPU + NEW_GPU, "defined twice"),
        ('[[gpu]]\nvendor = "amd"', "no name"),
        ("gpus = []", "unknown top-level key"),
        ('gpu = "RTX 4090"', "array of tables"),
    ],
)
def test_broken_user_file_raises_one_clear_line(tmp_path: Path, content: str, problem: str) -> None:
    user = tmp_path / "gpus.toml"
    user.write_text(content)
    with pytest.raises(CatalogError) as info:
        Catalog.load(user)
    message = str(info.value)
    assert str(user) in message
    assert problem in message
    assert "\n" not in message


def test_non_utf8_user_file(tmp_path: Path) -> None:
    user = tmp_path / "gpus.toml"
    user.write_bytes(b"\xff\xfe[[gpu]]")
    with pytest.raises(CatalogError, match="UTF-8"):
        Catalog.load(user)


# --- hot reload --------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def _write(path: Path, text: str, bump: int) -> None:
    path.write_text(text)
    # Force a new mtime: two writes within the filesystem's timestamp granularity would
    # otherwise look identical.
    stamp = 1_700_000_000_000_000_000 + bump * 1_000_000_000
    os.utime(path, ns=(stamp, stamp))


def test_source_picks_up_a_changed_file_without_restart(tmp_path: Path) -> None:
    user = tmp_path / "gpus.toml"
    clock = FakeClock()
    source = CatalogSource(user, min_check_interval=1.0, monotonic=clock)
    assert source.current() is Catalog.builtin()  # no file yet
    assert source.last_error is None

    _write(user, NEW_GPU, bump=1)
    assert source.current().get("Test GPU") is None  # not re-checked within the interval
    clock.advance(1.0)
    first = source.current()
    assert first.get("Test GPU") is not None
    clock.advance(5.0)
    assert source.current() is first  # unchanged file: same catalog, not re-parsed

    _write(user, NEW_GPU.replace("Test GPU", "Other GPU"), bump=2)
    clock.advance(1.0)
    second = source.current()
    assert second.get("Other GPU") is not None
    assert second.get("Test GPU") is None

    user.unlink()
    clock.advance(1.0)
    assert source.current() is Catalog.builtin()


def test_source_keeps_the_last_good_catalog_on_a_broken_file(tmp_path: Path) -> None:
    user = tmp_path / "gpus.toml"
    clock = FakeClock()
    _write(user, NEW_GPU, bump=1)
    source = CatalogSource(user, monotonic=clock)
    good = source.current()
    assert good.get("Test GPU") is not None

    _write(user, "[[gpu]\nbroken", bump=2)
    clock.advance(1.0)
    assert source.current() is good
    assert source.last_error is not None
    assert str(user) in source.last_error

    _write(user, NEW_GPU.replace("Test GPU", "Fixed GPU"), bump=3)
    clock.advance(1.0)
    assert source.current().get("Fixed GPU") is not None
    assert source.last_error is None


def test_source_with_a_broken_file_at_start_serves_the_builtin(tmp_path: Path) -> None:
    user = tmp_path / "gpus.toml"
    user.write_text("not toml [")
    source = CatalogSource(user, monotonic=FakeClock())
    assert source.current() is Catalog.builtin()
    assert source.last_error is not None


def test_source_without_a_user_file() -> None:
    source = CatalogSource(None)
    assert source.current() is Catalog.builtin()
    assert source.last_error is None


# --- module hygiene ----------------------------------------------------------------------


def test_module_imports_without_ui_libraries_or_io() -> None:
    code = (
        "import sys\n"
        "import gpucm.domain.catalog as c\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')]\n"
        "assert not bad, bad\n"
        "assert c._builtin is None, 'catalog read at import'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
