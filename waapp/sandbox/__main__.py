"""``python -m waapp.sandbox [--host H] [--port P] [--config FILE]``: run the Sandbox until
Ctrl+C or SIGTERM. ``waapp sandbox`` runs the same."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from waapp.sandbox.settings import DEFAULT_HOST, DEFAULT_PORT

if TYPE_CHECKING:
    from waapp.sandbox.server import Sandbox


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port to listen on, 0 for any free one (default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="a JSON file with the body of POST /_sandbox/config to apply at start",
    )


def banner(sandbox: Sandbox) -> str:
    url = sandbox.url
    settings = sandbox.settings
    return "\n".join(
        [
            f"waapp Sandbox listening on {url}",
            f"  Twilio    API and Content base URL {url}",
            f"            Account SID {settings.twilio.account_sid}  Auth Token {settings.twilio.auth_token}",
            f"  Meta      Graph base URL {url}/v23.0 (any version)",
            f"            phone number id {settings.meta.phone_number_id}  WABA id {settings.meta.waba_id}",
            f"            access token {settings.meta.access_token}  app secret {settings.meta.app_secret}"
            f"  verify token {settings.meta.verify_token}",
            f"  WaSender  base URL {url}/api",
            f"            API key {settings.wasender.api_key}  webhook secret {settings.wasender.webhook_secret}",
            f"  Control   {url}/_sandbox/ (health, config, inbound, messages, webhooks, settle, verify, reset)",
            "Press Ctrl+C to stop.",
        ]
    )


async def serve(
    host: str, port: int, config: Mapping[str, Any] | None = None, *, out: TextIO | None = None
) -> int:
    """Run a Sandbox until SIGINT or SIGTERM."""
    from waapp.sandbox.server import Sandbox

    out = out or sys.stdout
    sandbox = Sandbox(config=config)
    await sandbox.start(host, port)
    print(banner(sandbox), file=out, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for name in ("SIGINT", "SIGTERM"):
        # Windows has no loop signal handlers: Ctrl+C raises KeyboardInterrupt instead.
        with contextlib.suppress(NotImplementedError, AttributeError, RuntimeError):
            loop.add_signal_handler(getattr(signal, name), stop.set)
    try:
        await stop.wait()
    finally:
        await sandbox.stop()
        print("waapp Sandbox stopped.", file=out, flush=True)
    return 0


def load_config(path: str | None) -> dict[str, Any] | None:
    if path is None:
        return None
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def run(host: str, port: int, config_path: str | None) -> int:
    try:
        config = load_config(config_path)
        return asyncio.run(serve(host, port, config))
    except KeyboardInterrupt:
        return 0
    except (OSError, ValueError) as exc:
        print(f"waapp sandbox: {exc}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m waapp.sandbox",
        description="Run the waapp Sandbox, a simulated WhatsApp provider.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run(args.host, args.port, args.config)


if __name__ == "__main__":
    sys.exit(main())
