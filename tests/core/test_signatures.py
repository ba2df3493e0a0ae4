"""Signatures against the providers' published test vectors (providers.md) and properties."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from waapp.core.signatures import (
    meta_signature,
    meta_valid,
    twilio_body_hash,
    twilio_signature,
    twilio_valid,
    wasender_valid,
)

URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
    "Caller": "+14158675309",
}


def test_twilio_vector() -> None:
    assert twilio_signature(URL, PARAMS, "12345") == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert twilio_valid(URL, PARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", "12345")


def test_twilio_multi_valued_vector() -> None:
    params = [
        ("Sid", "CA123"),
        ("SidAccount", "AC123"),
        ("Digits", "5678"),
        ("Digits", "1234"),
        ("Digits", "1234"),
    ]
    assert twilio_signature(URL, params, "12345") == "IK+Dwps556ElfBT0I3Rgjkr1wJU="


def test_twilio_port_variants() -> None:
    with_port = "http://mycompany.com:1234/myapp.php?foo=1&bar=2"
    assert twilio_signature(with_port, PARAMS, "12345") == "Zmvh+3yNM1Phv2jhDCwEM3q5ebU="
    assert twilio_valid(with_port, PARAMS, "Zmvh+3yNM1Phv2jhDCwEM3q5ebU=", "12345")
    # Twilio may have signed the URL without the port: accepted too.
    assert twilio_valid(with_port, PARAMS, "OyGYPqTF6ztdbRNCvuQO/oPvqQ4=", "12345")
    # Signed with https' default port, received without it.
    signed = twilio_signature("https://mycompany.com:443/myapp.php?foo=1&bar=2", PARAMS, "12345")
    assert twilio_valid(URL, PARAMS, signed, "12345")


def test_twilio_json_body_hash_vector() -> None:
    body = b'{"property": "value", "boolean": true}'
    assert (
        twilio_body_hash(body) == "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    )
    url = f"https://mycompany.com/myapp.php?bodySHA256={twilio_body_hash(body)}"
    signature = twilio_signature(url, {}, "12345")
    assert twilio_valid(url, {}, signature, "12345", body=body)
    assert not twilio_valid(url, {}, signature, "12345", body=body + b" ")


def test_twilio_rejects_forgeries() -> None:
    good = twilio_signature(URL, PARAMS, "12345")
    assert not twilio_valid(URL, {**PARAMS, "Digits": "9999"}, good, "12345")
    assert not twilio_valid(URL, PARAMS, good, "other-token")
    assert not twilio_valid(URL, PARAMS, None, "12345")
    assert not twilio_valid(URL, PARAMS, "", "12345")
    assert not twilio_valid(URL, PARAMS, good, "")


def test_meta_vector() -> None:
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    expected = "sha256=dec6a680679a968e7e0319355b23599cbfc54502c0784668e9618baa0c633756"
    assert meta_signature(body, "test_app_secret") == expected
    assert meta_valid(body, expected, "test_app_secret")
    assert not meta_valid(body + b"\n", expected, "test_app_secret")  # raw bytes, not re-serialised
    assert not meta_valid(body, expected.replace("sha256=", ""), "test_app_secret")
    assert not meta_valid(body, None, "test_app_secret")


def test_wasender_shared_secret() -> None:
    assert wasender_valid("s3cret", "s3cret")
    assert not wasender_valid("s3cre", "s3cret")
    assert not wasender_valid(None, "s3cret")
    assert not wasender_valid("", "")


@settings(max_examples=200)
@given(
    body=st.binary(max_size=512),
    secret=st.text(min_size=1, max_size=40),
    flip=st.integers(min_value=0),
)
def test_meta_any_changed_byte_is_rejected(body: bytes, secret: str, flip: int) -> None:
    header = meta_signature(body, secret)
    assert meta_valid(body, header, secret)
    if body:
        i = flip % len(body)
        tampered = body[:i] + bytes([body[i] ^ 1]) + body[i + 1 :]
        assert not meta_valid(tampered, header, secret)


@settings(max_examples=200)
@given(
    params=st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=20), max_size=8),
    token=st.text(min_size=1, max_size=32),
)
def test_twilio_roundtrip_and_order_independence(params: dict[str, str], token: str) -> None:
    signature = twilio_signature(URL, params, token)
    assert twilio_valid(URL, params, signature, token)
    assert twilio_valid(URL, list(reversed(list(params.items()))), signature, token)
