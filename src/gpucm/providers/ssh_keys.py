"""The user's own SSH public key, for providers that install one per launch.

A launch may carry the key (LaunchSpec.ssh_public_key); without one, the key OpenSSH
would offer first is used: ~/.ssh/id_ed25519.pub, then id_ecdsa.pub, then id_rsa.pub.
Only public keys are read, never a private one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

DEFAULT_KEY_FILES: Final = ("id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub")
MAX_KEY_BYTES: Final = 16 * 1024  # an RSA 16384-bit public key is ~2.8 KB


def default_public_key(home: Path | None = None) -> str | None:
    """The first public key file in ~/.ssh that reads as one line of text, or None."""
    ssh = (home if home is not None else Path.home()) / ".ssh"
    for name in DEFAULT_KEY_FILES:
        path = ssh / name
        try:
            if path.stat().st_size > MAX_KEY_BYTES:
                continue
            content = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if content and "\n" not in content:
            return content
    return None
