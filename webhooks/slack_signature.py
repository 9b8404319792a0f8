"""Check Slack's request signature (X-Slack-Signature: v0=<hex>) and its 5-minute freshness."""

from __future__ import annotations

import enum
import hashlib
import hmac

VERSION = "v0"
MAX_AGE_SECONDS = 5 * 60


class SignatureCheck(str, enum.Enum):
    """What a Slack request's signature headers amount to."""

    VALID = "valid"
    MISSING = "missing"   # a header is absent, or the timestamp is not a whole number
    STALE = "stale"       # the timestamp is more than five minutes from now, either way
    INVALID = "invalid"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Return the X-Slack-Signature value Slack sends for ``body`` sent at ``timestamp``."""
    base = f"{VERSION}:{timestamp}:".encode("utf-8") + body
    return f"{VERSION}=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


def check_signature(secret: str, body: bytes, timestamp: str | None, signature: str | None,
                    *, now: float) -> SignatureCheck:
    """Judge the raw ``body`` against Slack's timestamp and signature headers at time ``now``."""
    if not timestamp or not signature:
        return SignatureCheck.MISSING
    try:
        sent = int(timestamp.strip())
    except ValueError:
        return SignatureCheck.MISSING
    # Checked before the HMAC: a fresh signature must not make an old request usable again.
    if abs(now - sent) > MAX_AGE_SECONDS:
        return SignatureCheck.STALE
    expected = sign(secret, timestamp.strip(), body).encode("ascii")
    if not hmac.compare_digest(signature.strip().encode("utf-8"), expected):
        return SignatureCheck.INVALID
    return SignatureCheck.VALID
