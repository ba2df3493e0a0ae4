"""bench/import — a 100 000-row spreadsheet of messy contacts into a fresh store
(performance.md: ≤ 1.3 × floor, peak RSS ≤ 300 MB, loop lag p99 ≤ 50 ms meanwhile).

Run: ``python -m bench.import_ [--runs 3] [--rows 100000]`` (the module is ``import_``
because ``import`` is a keyword).

The file (6 columns: Name, Mobile, City, Email, Joined, Notes; phones in mixed national and
international formats, some as float cells; 10 % invalid, 10 % duplicates written another
way) is generated once into the temporary folder and reused.

Each measurement runs in a fresh process, alternating floor and waapp:

- **waapp**: ``ImportService.run`` (default country IN, into a new group) on a fresh store,
  with a 10 ms timer on the running asyncio loop recording how late it fires;
- **floor**: the same work done by the bare libraries — python-calamine reads the sheet,
  phonenumbers parses / validates / formats each distinct phone cell (a dict cache), and
  ``sqlite3.executemany`` inserts the valid first occurrences into a bare table (WAL,
  ``synchronous=NORMAL``) in one transaction.

Prints the figures as JSON, then one closing line.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REGION = "IN"
CITIES = ["Pune", "Mumbai", "Delhi", "Chennai", "Kolkata", "Jaipur", "Surat", "Indore"]
FIRST = ["Asha", "Ravi", "Priya", "Arjun", "Meera", "Vikram", "Sana", "Kabir", "Neha", "Rohan"]
LAST = ["Patel", "Sharma", "Iyer", "Khan", "Das", "Reddy", "Gupta", "Nair", "Singh", "Joshi"]


def _valid_mobiles(count: int, rng: random.Random) -> list[str]:
    """``count`` distinct valid Indian mobile numbers (10 national digits)."""
    import phonenumbers

    found: dict[str, None] = {}
    while len(found) < count:
        national = str(rng.choice("6789")) + "".join(rng.choice("0123456789") for _ in range(9))
        if national in found:
            continue
        if phonenumbers.is_valid_number(phonenumbers.parse("+91" + national)):
            found[national] = None
    return list(found)


def _written(national: str, rng: random.Random) -> object:
    """One of the ways people write an Indian mobile number in a spreadsheet."""
    style = rng.randrange(8)
    if style == 0:
        return float("91" + national)  # a number cell: 917033009600.0
    if style == 1:
        return f"+91 {national[:5]} {national[5:]}"
    if style == 2:
        return "0" + national  # trunk 0
    if style == 3:
        return national  # national, needs the default country
    if style == 4:
        return f"0091 {national}"
    if style == 5:
        return f"+91-{national[:3]}-{national[3:6]}-{national[6:]}"
    if style == 6:
        return f"({national[:3]}) {national[3:6]} {national[6:]}"
    return int(national)  # a number cell without the country code


def _invalid(rng: random.Random) -> object:
    style = rng.randrange(5)
    if style == 0:
        return str(rng.randrange(1000, 99999))  # too short
    if style == 1:
        return f"9.{rng.randrange(10**4, 10**5)}E+11"  # digits lost by the spreadsheet
    if style == 2:
        return "call office"  # letters
    if style == 3:
        return "+91 " + "".join(rng.choice("0123456789") for _ in range(13))  # too long
    return "98765 4321"  # one digit short


def generate(path: Path, rows: int) -> None:
    from openpyxl import Workbook

    rng = random.Random(20240501)
    unique = rows - 2 * (rows // 10)
    mobiles = _valid_mobiles(unique, rng)
    plan: list[tuple[str, object]] = [("valid", m) for m in mobiles]
    plan += [("duplicate", rng.choice(mobiles)) for _ in range(rows // 10)]
    plan += [("invalid", None) for _ in range(rows // 10)]
    rng.shuffle(plan)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Customers")
    sheet.append(["Name", "Mobile", "City", "Email", "Joined", "Notes"])
    start = date(2023, 1, 1)
    for index, (kind, national) in enumerate(plan):
        phone = _invalid(rng) if kind == "invalid" else _written(str(national), rng)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        sheet.append(
            [
                f" {first} {last} " if index % 7 == 0 else f"{first} {last}",
                phone,
                rng.choice(CITIES),
                f"{first.lower()}.{last.lower()}{index}@example.com",
                start + timedelta(days=rng.randrange(700)),
                "VIP" if index % 13 == 0 else "",
            ]
        )
    workbook.save(path)


def bench_file(rows: int) -> Path:
    folder = Path(tempfile.gettempdir()) / "waapp-bench"
    folder.mkdir(exist_ok=True)
    path = folder / f"import-{rows}-v1.xlsx"
    if not path.exists():
        started = time.perf_counter()
        partial = path.with_suffix(".partial.xlsx")
        generate(partial, rows)
        partial.replace(path)
        print(f"generated {path} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return path


def _peak_rss_mb() -> float:
    """This process's peak RSS: VmHWM on Linux (ru_maxrss would also count the parent's
    peak, which Linux carries across fork and exec), else ru_maxrss."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


class _GcClock:
    """Seconds spent in the cyclic garbage collector while installed (both subjects report
    it: the app's heap of modules and cached results makes its full collections dearer)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


# --- the two subjects, each run in a fresh process -----------------------------------------


def run_floor(path: Path, data: Path) -> dict[str, float]:
    import phonenumbers
    from phonenumbers import PhoneNumberFormat
    from python_calamine import CalamineWorkbook

    gc_clock = _GcClock()
    started = time.perf_counter()
    sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
    cache: dict[str, str | None] = {}
    seen: set[str] = set()
    rows = []
    for index, row in enumerate(sheet.iter_rows()):
        if index == 0:
            continue
        cell = row[1]
        text = str(int(cell)) if isinstance(cell, float) and cell.is_integer() else str(cell)
        if text in cache:
            e164 = cache[text]
        else:
            e164 = None
            try:
                number = phonenumbers.parse(text, REGION)
                if phonenumbers.is_valid_number(number):
                    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
            except phonenumbers.NumberParseException:
                pass
            cache[text] = e164
        if e164 is None or e164 in seen:
            continue
        seen.add(e164)
        rows.append((e164, str(row[0]), str(row[2]), str(row[3]), str(row[4]), str(row[5])))
    checked = time.perf_counter()
    conn = sqlite3.connect(data / "floor.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE contacts (phone, name, city, email, joined, notes)")
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO contacts VALUES (?, ?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    conn.close()
    finished = time.perf_counter()
    return {
        "seconds": finished - started,
        "read_and_check_seconds": checked - started,
        "write_seconds": finished - checked,
        "gc_seconds": gc_clock.seconds,
        "rows": len(rows),
        "peak_rss_mb": _peak_rss_mb(),
    }


def run_waapp(path: Path, data: Path) -> dict[str, float]:
    from waapp.app import open_services
    from waapp.core.ports import ContactQuery
    from waapp.paths import DataPaths
    from waapp.services.importer import ImportOptions

    async def main() -> dict[str, float]:
        services = await open_services(DataPaths(data))
        try:
            inspect_started = time.perf_counter()
            info = await services.importer.inspect(path)
            inspect_s = time.perf_counter() - inspect_started
            assert info.mapping is not None
            options = ImportOptions(
                sheet=info.sheet,
                header_row=info.header_row,
                mapping=info.mapping,
                region=REGION,
                new_group_name="Bench",
            )
            lateness: list[float] = []
            stop = asyncio.Event()

            async def ticker() -> None:
                while not stop.is_set():
                    due = time.perf_counter() + 0.010
                    await asyncio.sleep(0.010)
                    lateness.append(max(0.0, time.perf_counter() - due))

            marks: dict[str, float] = {}

            def progress(done: int, _total: int) -> None:  # from worker threads
                if done >= 850:
                    marks.setdefault("planned", time.perf_counter())

            tick = asyncio.create_task(ticker())
            gc_clock = _GcClock()
            started = time.perf_counter()
            report = await services.importer.run(path, options, progress=progress)
            seconds = time.perf_counter() - started
            stop.set()
            await tick
            stored = await services.contacts.count(ContactQuery())
            assert stored == report.imported, (stored, report.imported)
            lateness.sort()
            return {
                "seconds": seconds,
                "inspect_seconds": inspect_s,
                "read_and_check_seconds": marks["planned"] - started,
                "write_seconds": started + seconds - marks["planned"],
                "gc_seconds": gc_clock.seconds,
                "rows": report.imported,
                "invalid": report.invalid,
                "duplicates": report.duplicates,
                "loop_lag_p99_ms": 1000
                * lateness[min(len(lateness) - 1, int(0.99 * len(lateness)))],
                "loop_lag_max_ms": 1000 * lateness[-1],
                "peak_rss_mb": _peak_rss_mb(),
            }
        finally:
            await services.close()

    return asyncio.run(main())


def child(subject: str, path: Path) -> None:
    with tempfile.TemporaryDirectory() as data:
        result = (run_floor if subject == "floor" else run_waapp)(path, Path(data))
    print(json.dumps(result))


def measure(subject: str, path: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.import_", "--child", subject, "--file", str(path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )
    if done.returncode != 0:
        raise RuntimeError(f"{subject} failed: {done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--child", choices=["floor", "waapp"], help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, Path(args.file))
        return
    path = bench_file(args.rows)
    floors, ours = [], []
    for _ in range(args.runs):
        floors.append(measure("floor", path))
        ours.append(measure("waapp", path))

    def median(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(run[key] for run in runs)

    figures = {
        "rows_in_file": args.rows,
        "runs": args.runs,
        "floor_s": median(floors, "seconds"),
        "waapp_s": median(ours, "seconds"),
        "ratio_to_floor": median(ours, "seconds") / median(floors, "seconds"),
        "inspect_s": median(ours, "inspect_seconds"),
        "waapp_read_and_check_s": median(ours, "read_and_check_seconds"),
        "waapp_write_s": median(ours, "write_seconds"),
        "waapp_gc_s": median(ours, "gc_seconds"),
        "floor_read_and_check_s": median(floors, "read_and_check_seconds"),
        "floor_write_s": median(floors, "write_seconds"),
        "floor_gc_s": median(floors, "gc_seconds"),
        "contacts_committed": int(median(ours, "rows")),
        "floor_rows": int(median(floors, "rows")),
        "invalid": int(median(ours, "invalid")),
        "duplicates": int(median(ours, "duplicates")),
        "peak_rss_mb": max(run["peak_rss_mb"] for run in ours),
        "floor_peak_rss_mb": max(run["peak_rss_mb"] for run in floors),
        "loop_lag_p99_ms": median(ours, "loop_lag_p99_ms"),
        "loop_lag_max_ms": max(run["loop_lag_max_ms"] for run in ours),
        "all_floor_s": [round(run["seconds"], 3) for run in floors],
        "all_waapp_s": [round(run["seconds"], 3) for run in ours],
    }
    print(json.dumps(figures, indent=2))
    print(
        f"import: {args.rows} rows in {figures['waapp_s']:.1f} s, "
        f"{figures['ratio_to_floor']:.2f}x floor ({figures['floor_s']:.1f} s), "
        f"peak RSS {figures['peak_rss_mb']:.0f} MB, loop lag p99 {figures['loop_lag_p99_ms']:.0f} ms "
        f"(median of {args.runs})"
    )


if __name__ == "__main__":
    main()
