"""bench/pace — a campaign at a pace of 80 msg/s for 60 s (performance.md, ``pace``).

Targets: the achieved rate within ±2 % of the pace, no burst above the token bucket, loop
lag p99 ≤ 20 ms.

Set-up as ``bench.send`` (a Sandbox process, the real store, service, engine and Meta
provider over the production transport), with the campaign's pace at ``--rate`` messages
per second and Meta's default 16 requests in flight: 4 800 recipients.

Figures: the rate from the Sandbox's own acceptance times (``/_sandbox/messages``, ms),
first to last ((n − 1) / span); the **burst** — the most messages in any interval beyond
what the pace allows in it, ``max over i ≤ j of (j − i + 1) − rate × (t_j − t_i)`` —
compared with the bucket's size (``min(in_flight, rate)``, the tokens it may save up),
measured when each request leaves the engine for the provider (``max_burst``) and, with
loopback's jitter on top, at the Sandbox (``max_burst_at_sandbox``); loop lag p99 of a
10 ms timer on the loop while the campaign runs. No floor: the figure is the pace kept.

Run: ``python -m bench.pace [--quick] [--runs N] [--rate R] [--seconds S]``. Prints JSON,
then ``pace: 80.1 msg/s for 60 s (+0.1 %), max burst 16 ≤ bucket 16, lag p99 6 ms``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.send import Campaign, sandbox_messages, sandbox_process
from bench.status import LagProbe

IN_FLIGHT = 16  # Meta's default


def burst(times: list[float], rate: float) -> float:
    """The most accepted in any interval beyond ``rate`` × its length (see the module doc):
    for each j, ``(j + 1 − rate·t_j) + max over i ≤ j of (rate·t_i − i)``."""
    best = 0.0
    lead = float("-inf")
    for j, t in enumerate(times):
        lead = max(lead, rate * t - j)
        best = max(best, (j + 1 - rate * t) + lead)
    return best


async def one(args: argparse.Namespace) -> dict[str, Any]:
    recipients = int(args.rate * args.seconds)
    probe = LagProbe(False)
    probe.start()
    try:
        async with sandbox_process() as url:
            with tempfile.TemporaryDirectory(prefix="waapp-bench-pace-") as folder:
                async with Campaign(Path(folder), url, recipients) as campaign:
                    left: list[float] = []
                    send = campaign.provider.send_template

                    async def timed(*a: Any, **k: Any) -> Any:
                        left.append(time.time())  # the request leaves our hands
                        return await send(*a, **k)

                    campaign.provider.send_template = timed  # type: ignore[method-assign]
                    result = await campaign.run({"rate": args.rate, "in_flight": IN_FLIGHT})
            accepted = await sandbox_messages(url)
    finally:
        await probe.stop()
    times = sorted(datetime.fromisoformat(m["time"]).timestamp() for m in accepted)
    span = times[-1] - times[0]
    achieved = (len(times) - 1) / span
    left.sort()
    return {
        "recipients": recipients,
        "status": result["status"],
        "accepted": len(times),
        "span_s": round(span, 3),
        "msg_per_s": round(achieved, 2),
        "off_pct": round(100 * (achieved - args.rate) / args.rate, 2),
        "max_burst": round(burst(left, args.rate), 2),
        "max_burst_at_sandbox": round(burst(times, args.rate), 2),
        "bucket": min(IN_FLIGHT, args.rate),
        "lag_p99_ms": round(probe.p99_ms(result["started"], result["ended"]), 1),
        "cpu_ms_per_msg": result["cpu_ms_per_msg"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 s, one run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=80.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.runs = 10.0, 1

    runs = [asyncio.run(one(args)) for _ in range(args.runs)]

    def median(key: str) -> float:
        return float(statistics.median(run[key] for run in runs))

    summary = {
        "rate": args.rate,
        "seconds": args.seconds,
        "runs": args.runs,
        "msg_per_s": median("msg_per_s"),
        "off_pct": median("off_pct"),
        "max_burst": max(run["max_burst"] for run in runs),
        "max_burst_at_sandbox": max(run["max_burst_at_sandbox"] for run in runs),
        "bucket": runs[0]["bucket"],
        "lag_p99_ms": median("lag_p99_ms"),
        "cpu_ms_per_msg": median("cpu_ms_per_msg"),
        "all_completed": all(
            run["status"] == "completed" and run["accepted"] == run["recipients"] for run in runs
        ),
    }
    print(json.dumps({"summary": summary, "runs": runs}, indent=2))
    within = "≤" if summary["max_burst"] <= summary["bucket"] else ">"
    print(
        f"pace: {summary['msg_per_s']:.1f} msg/s for {args.seconds:.0f} s "
        f"({summary['off_pct']:+.1f} %), max burst {summary['max_burst']:.0f} {within} bucket "
        f"{summary['bucket']:.0f}, lag p99 {summary['lag_p99_ms']:.0f} ms"
        f"{'' if args.runs == 1 else f' (median of {args.runs})'}"
        f"{'' if summary['all_completed'] else ' — NOT every recipient was sent once'}"
    )


if __name__ == "__main__":
    main()
