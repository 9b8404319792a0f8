"""Check Jira's HMAC-SHA256 body signature (X-Hub-Signature: sha256=<hex>)."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "sha256="


def sign(secret: str, body: bytes) -> str:
    """Return the X-Hub-Signature value Jira sends for ``body`` signed with ``secret``."""
    return PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Return True only if ``header`` is exactly the signature of the raw ``body``."""
    if not header:
        return False
    expected = sign(secret, body).encode("ascii")
    return hmac.compare_digest(header.strip().encode("utf-8"), expected)
