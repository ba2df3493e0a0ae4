"""Transport faults raised by the mock transport, for every provider and operation: which
side of the request they hit decides ``may_have_reached`` (catalogue module docstring)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.providers.conftest import Mock, run
from tests.providers.test_meta import kapso, meta
from tests.providers.test_twilio import twilio
from tests.providers.test_wasender import wasender
from waapp.core import catalogue
from waapp.core.catalogue import ErrorClass
from waapp.core.ports import Provider
from waapp.providers import ProviderRequestError

FAULTS = [
    (httpx.ConnectError("[Errno 111] Connection refused"), "connection_failed", False),
    (httpx.ConnectTimeout("timed out"), "timeout_before_send", False),
    (httpx.PoolTimeout("no free connection"), "timeout_before_send", False),
    (httpx.ProxyError("proxy refused"), "connection_failed", False),
    (httpx.UnsupportedProtocol("ftp://"), "connection_failed", False),
    (httpx.LocalProtocolError("bad header"), "connection_failed", False),
    (httpx.WriteTimeout("write timed out"), "timeout_after_send", True),
    (httpx.ReadTimeout("read timed out"), "timeout_after_send", True),
    (
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        "connection_reset",
        True,
    ),
    (httpx.ReadError("[Errno 104] Connection reset by peer"), "connection_reset", True),
    (httpx.WriteError("[Errno 32] Broken pipe"), "connection_reset", True),
    (httpx.DecodingError("bad gzip"), "bad_response", True),
]
FAULT_IDS = [type(fault).__name__ for fault, _, _ in FAULTS]

PROVIDERS: dict[str, Callable[[Mock], Provider]] = {
    "twilio": twilio,
    "meta": meta,
    "kapso": kapso,
    "wasender": wasender,
}


@pytest.mark.parametrize("name", sorted(PROVIDERS))
@pytest.mark.parametrize(("fault", "code", "reached"), FAULTS, ids=FAULT_IDS)
def test_send_faults(name: str, fault: Exception, code: str, reached: bool) -> None:
    provider = PROVIDERS[name](Mock(fault))
    result = run(provider.send_text("+15552229999", "Hello", reference="r"))

    assert not result.accepted and result.error is not None
    assert result.error.code == code
    assert result.error.may_have_reached is reached
    entry = catalogue.lookup(provider.dialect, code)  # type: ignore[attr-defined]
    assert entry.known and result.error.title == entry.title
    assert (entry.error_class is ErrorClass.UNKNOWN_OUTCOME) is reached


@pytest.mark.parametrize("name", ["twilio", "wasender"])
@pytest.mark.parametrize(
    ("fault", "code", "reached"), FAULTS[:2] + FAULTS[7:9], ids=FAULT_IDS[:2] + FAULT_IDS[7:9]
)
def test_polling_faults_raise_a_mapped_error(
    name: str, fault: Exception, code: str, reached: bool
) -> None:
    with pytest.raises(ProviderRequestError) as caught:
        run(PROVIDERS[name](Mock(fault)).fetch_status("SM1"))
    assert caught.value.error.code == code
    assert caught.value.error.may_have_reached is reached


@pytest.mark.parametrize("name", ["twilio", "meta"])
def test_listing_faults_raise_a_mapped_error(name: str) -> None:
    with pytest.raises(ProviderRequestError) as caught:
        run(PROVIDERS[name](Mock(httpx.ReadTimeout("slow"))).list_templates())
    assert caught.value.error.code == "timeout_after_send"
    assert caught.value.__cause__ is None and caught.value.__context__ is None


@pytest.mark.parametrize("name", sorted(PROVIDERS))
def test_health_faults_are_reported_not_raised(name: str) -> None:
    report = run(PROVIDERS[name](Mock(httpx.RemoteProtocolError("reset"))).check_health())
    assert not report.ok and report.details["error_code"] == "connection_reset"
