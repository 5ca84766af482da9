"""The CUDA version a container image says it needs, read from its name and tag.

A CUDA 12.4 image on a host whose driver only goes to 12.2 fails at start, after the
machine has begun to bill. Providers can place a launch on a new enough host (RunPod's
`gpu.minCudaVersion`) or report a host's ceiling (Vast's `cuda_max_good`) when gpucm
knows what the image needs. Images say it in the usual tag spellings:

    pytorch/pytorch:2.4.0-cuda12.4-cudnn9-devel        -> 12.4
    runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-...   -> 12.4
    runpod/pytorch:1.0.2-cu1281-torch280-ubuntu2404    -> 12.8
    vllm/vllm-openai:v0.6.0-cu124, ...:cu118           -> 12.4, 11.8
    nvidia/cuda:12.6.2-cudnn-runtime-ubuntu22.04       -> 12.6

An image that says nothing (`ubuntu:22.04`, `my/app:latest`) needs nothing gpucm can
check: None.
"""

from __future__ import annotations

import re
from typing import Final

# "cuda12.4", "cuda-12.4.1", "cuda_12.4" (major.minor, any patch)
_CUDA_DOTTED: Final = re.compile(r"(?<![a-z0-9])cuda[-_]?(\d{2})\.(\d{1,2})(?![0-9])", re.I)
# "cu124", "cu118", "cu1281" (major two digits, then minor, then an optional patch digit)
_CU_PACKED: Final = re.compile(r"(?<![a-z0-9])cu(\d{2})(\d)(\d)?(?![0-9])", re.I)
# the tag of an image named ".../cuda" starts with the version: "nvidia/cuda:12.6.2-..."
_CUDA_REPO_TAG: Final = re.compile(r"(?:^|/)cuda:(\d{2})\.(\d{1,2})(?![0-9])", re.I)


def image_cuda(image: str | None) -> str | None:
    """The CUDA version `image` needs, as "major.minor" ("12.4"), or None."""
    if not image:
        return None
    for pattern in (_CUDA_REPO_TAG, _CUDA_DOTTED, _CU_PACKED):
        match = pattern.search(image)
        if match is not None:
            major, minor = int(match.group(1)), int(match.group(2))
            if 10 <= major <= 14:  # a CUDA major, not a year or a build number
                return f"{major}.{minor}"
    return None


def version_key(version: str) -> tuple[int, ...]:
    """ "12.11" sorts after "12.2": versions compare number by number."""
    parts: list[int] = []
    for part in version.split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)
