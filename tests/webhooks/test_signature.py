import pytest

from webhooks.signature import sign, verify_signature

ATLASSIAN_SECRET = "It's a Secret to Everybody"
ATLASSIAN_BODY = b"Hello World!"
ATLASSIAN_SIGNATURE = "sha256=a4771c39fbe90f317c7824e83ddef3caae9cb3d976c214ace1f2937e133263c9"
DIGEST = ATLASSIAN_SIGNATURE.removeprefix("sha256=")


@pytest.mark.parametrize(
    ("secret", "body", "header", "expected"),
    [
        (ATLASSIAN_SECRET, ATLASSIAN_BODY, ATLASSIAN_SIGNATURE, True),
        (ATLASSIAN_SECRET, ATLASSIAN_BODY, ATLASSIAN_SIGNATURE + "\r\n", True),
        (ATLASSIAN_SECRET, ATLASSIAN_BODY, "sha1=" + DIGEST, False),
        (ATLASSIAN_SECRET, ATLASSIAN_BODY, DIGEST, False),
        (ATLASSIAN_SECRET, ATLASSIAN_BODY, "SHA256=" + DIGEST, False),
        (ATLASSIAN_SECRET, ATLASSIAN_BODY, "sha256=" + "0" * 64, False),
        (ATLASSIAN_SECRET, ATLASSIAN_BODY, "sha256=" + DIGEST[:-1], False),
        (ATLASSIAN_SECRET, b"Hello World?", ATLASSIAN_SIGNATURE, False),
        ("another secret", ATLASSIAN_BODY, ATLASSIAN_SIGNATURE, False),
        (ATLASSIAN_SECRET, ATLASSIAN_BODY, None, False),
        (ATLASSIAN_SECRET, ATLASSIAN_BODY, "", False),
        (ATLASSIAN_SECRET, ATLASSIAN_BODY, "sha256=", False),
        (ATLASSIAN_SECRET, ATLASSIAN_BODY, "sha256=ü" + DIGEST[1:], False),
        (ATLASSIAN_SECRET, b"", sign(ATLASSIAN_SECRET, b""), True),
    ],
    ids=[
        "atlassian-vector",
        "trailing-whitespace",
        "wrong-prefix",
        "no-prefix",
        "uppercase-prefix",
        "wrong-digest",
        "truncated-digest",
        "other-body",
        "other-secret",
        "missing-header",
        "empty-header",
        "prefix-only",
        "non-ascii-header",
        "empty-body",
    ],
)
def test_verify_signature(secret, body, header, expected):
    assert verify_signature(secret, body, header) is expected


def test_sign_reproduces_atlassian_vector():
    assert sign(ATLASSIAN_SECRET, ATLASSIAN_BODY) == ATLASSIAN_SIGNATURE
