"""The providers gpucm knows, by the names of the original API, and their spellings."""

from __future__ import annotations

VAST_AI = "vast_ai"
RUNPOD = "runpod"
LAMBDA_LABS = "lambda_labs"
PAPERSPACE = "paperspace"

PROVIDERS: tuple[str, ...] = (VAST_AI, RUNPOD, LAMBDA_LABS, PAPERSPACE)

DISPLAY_NAMES: dict[str, str] = {
    VAST_AI: "Vast.ai",
    RUNPOD: "RunPod",
    LAMBDA_LABS: "Lambda Cloud",
    PAPERSPACE: "Paperspace",
}


def display_name(provider: str) -> str:
    """How a person reads a provider's name (`Vast.ai`), on every screen and in every
    message; a name gpucm does not know is shown as it came."""
    return DISPLAY_NAMES.get(provider, provider)


SHORT_NAMES: dict[str, str] = {
    VAST_AI: "vast",
    RUNPOD: "runpod",
    LAMBDA_LABS: "lambda",
    PAPERSPACE: "paperspace",
}

# The original API's environment variable names, read by config and by the TUI's
# first screen (which must not wait for the provider modules to import).
KEY_ENV: dict[str, str] = {
    VAST_AI: "VAST_AI_API_KEY",
    RUNPOD: "RUNPOD_API_KEY",
    LAMBDA_LABS: "LAMBDA_API_KEY",
    PAPERSPACE: "PAPERSPACE_API_KEY",
}
URL_ENV: dict[str, str] = {
    VAST_AI: "VAST_AI_API_URL",
    RUNPOD: "RUNPOD_API_URL",
    LAMBDA_LABS: "LAMBDA_API_URL",
    PAPERSPACE: "PAPERSPACE_API_URL",
}

_ALIASES: dict[str, str] = {
    "vast": VAST_AI,
    "vastai": VAST_AI,
    "vast.ai": VAST_AI,
    "vast-ai": VAST_AI,
    "runpod.io": RUNPOD,
    "lambda": LAMBDA_LABS,
    "lambdalabs": LAMBDA_LABS,
    "lambda-labs": LAMBDA_LABS,
    "lambda_cloud": LAMBDA_LABS,
    "lambdacloud": LAMBDA_LABS,
    "ps": PAPERSPACE,
}


def canonical_provider(name: str) -> str | None:
    """The canonical provider name for a user's spelling, or None if unknown."""
    key = name.strip().lower()
    if key in PROVIDERS:
        return key
    return _ALIASES.get(key)
