"""Webhook signatures, computed and checked the providers' way (providers.md §1.9, §2.7, §3.6).

Used by the webhook receiver to verify and by the Sandbox to sign. Every comparison is
constant-time (``hmac.compare_digest``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

Params = Mapping[str, str] | Iterable[tuple[str, str]]


def _pairs(params: Params) -> list[tuple[str, str]]:
    return list(params.items()) if isinstance(params, Mapping) else list(params)


def twilio_signature(url: str, params: Params, auth_token: str) -> str:
    """``X-Twilio-Signature`` for a form POST: base64(HMAC-SHA1(token, url + sorted params)).

    Parameters are sorted by name; for a repeated name its *distinct* values are sorted and
    each appended (twilio-python's RequestValidator).
    """
    by_name: dict[str, set[str]] = {}
    for name, value in _pairs(params):
        by_name.setdefault(name, set()).add(value)
    payload = url + "".join(
        name + value for name in sorted(by_name) for value in sorted(by_name[name])
    )
    digest = hmac.new(auth_token.encode(), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _port_variants(url: str) -> list[str]:
    """The URL as given, without its port, and with the scheme's default port: Twilio's own
    signing is inconsistent about ports, so the SDK accepts each."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
    without = urlunsplit(parts._replace(netloc=userinfo + host))
    default = {"https": 443, "http": 80}.get(parts.scheme)
    variants = [url, without]
    if default is not None:
        variants.append(
            urlunsplit(parts._replace(netloc=f"{userinfo}{host}:{parts.port or default}"))
        )
    return list(dict.fromkeys(variants))


def twilio_body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def twilio_valid(
    url: str, params: Params, signature: str | None, auth_token: str, *, body: bytes | None = None
) -> bool:
    """Check ``X-Twilio-Signature``. For JSON bodies pass ``body``: the URL's ``bodySHA256``
    query parameter must equal the body's SHA-256 and the URL is signed with no params."""
    if not signature or not auth_token:
        return False
    if body is not None:
        query = dict(pair.split("=", 1) for pair in urlsplit(url).query.split("&") if "=" in pair)
        if not hmac.compare_digest(query.get("bodySHA256", ""), twilio_body_hash(body)):
            return False
        params = {}
    pairs = _pairs(params)
    return any(
        hmac.compare_digest(twilio_signature(candidate, pairs, auth_token), signature)
        for candidate in _port_variants(url)
    )


def meta_signature(body: bytes, app_secret: str) -> str:
    """``X-Hub-Signature-256``: ``sha256=`` + hex HMAC-SHA256(app secret, raw body bytes)."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def meta_valid(body: bytes, header: str | None, app_secret: str) -> bool:
    if not header or not app_secret:
        return False
    return hmac.compare_digest(meta_signature(body, app_secret), header.strip())


def kapso_signature(body: bytes, secret: str) -> str:
    """Kapso-native webhooks: ``X-Webhook-Signature`` = hex HMAC-SHA256, no prefix."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def wasender_valid(header: str | None, webhook_secret: str) -> bool:
    """WaSender sends its shared secret itself in ``X-Webhook-Signature`` (no HMAC)."""
    if not header or not webhook_secret:
        return False
    return hmac.compare_digest(header.encode(), webhook_secret.encode())
