"""The CUDA version an image says it needs (domain/cuda.py)."""

from __future__ import annotations

import pytest

from gpucm.domain.cuda import image_cuda, version_key


@pytest.mark.parametrize(
    ("image", "needed"),
    [
        ("pytorch/pytorch:2.4.0-cuda12.4-cudnn9-devel", "12.4"),
        ("runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04", "12.4"),
        ("runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2404", "12.8"),
        ("vllm/vllm-openai:v0.6.0-cu124", "12.4"),
        ("ghcr.io/x/y:cu118", "11.8"),
        ("nvidia/cuda:12.6.2-cudnn-runtime-ubuntu22.04", "12.6"),
        ("docker.io/nvidia/cuda:11.8.0-base", "11.8"),
        ("x:cu130", "13.0"),
        ("ubuntu:22.04", None),
        ("vastai/base-image:@vastai-automatic-tag", None),
        ("my/app:latest", None),
        ("foo/cu2024:1", None),  # a year, not CUDA 20.2
        ("", None),
        (None, None),
    ],
)
def test_image_cuda(image: str | None, needed: str | None) -> None:
    assert image_cuda(image) == needed


def test_versions_compare_number_by_number() -> None:
    assert version_key("12.11") > version_key("12.2") > version_key("12.1")
    assert version_key("13.0") > version_key("12.9")
    assert version_key("x") == ()
