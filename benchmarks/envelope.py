"""The JSON envelope every privet benchmark prints, the same as the peer scripts' one.

The last line a benchmark writes to stdout is one JSON object::

    {"workload": "w1_accounting", "mode": "full"|"quick", "ok": true, "repeats": 3,
     "warmup": 1, "versions": {...}, "env": {...}, "params": {...},
     "results": {"privet": {...}}, "notes": [...], "total_wall_s": 12.3}

Units are carried by key names (``*_s`` seconds, ``*_per_s`` per second, ``*_bytes``);
``time_s`` is the median of ``repeats`` timed runs after ``warmup`` untimed ones
(``time.perf_counter``), with every run under ``time_s_runs``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any


def versions(*packages: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for p in packages:
        try:
            out[p] = version(p)
        except PackageNotFoundError:
            out[p] = None
    return out


def env_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
    }
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["mem_total_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return info


def parse_args(description: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument(
        "--quick", action="store_true", help="smoke run: small sizes, 1 repeat (not comparable)"
    )
    return ap.parse_args()


def timed(
    fn: Callable[[], Any], repeats: int = 3, warmup: int = 1
) -> tuple[float, list[float], Any]:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times timed: (median, runs, last)."""
    for _ in range(warmup):
        fn()
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times, out


def _round(x: Any, nd: int = 6) -> Any:
    if isinstance(x, float):
        if x == 0.0 or not (abs(x) < 1e300):
            return x
        return float(f"{x:.{nd}g}")
    if isinstance(x, dict):
        return {k: _round(v, nd) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_round(v, nd) for v in x]
    return x


def emit(
    workload: str,
    args: argparse.Namespace,
    *,
    versions_: dict[str, str | None],
    params: dict[str, Any],
    results: dict[str, Any],
    repeats: int,
    warmup: int,
    notes: list[str],
    t_start: float,
    ok: bool = True,
) -> None:
    """Print the envelope as the last stdout line."""
    line = {
        "workload": workload,
        "mode": "quick" if getattr(args, "quick", False) else "full",
        "ok": ok,
        "repeats": repeats,
        "warmup": warmup,
        "versions": versions_,
        "env": env_info(),
        "params": _round(params),
        "results": _round(results),
        "notes": notes,
        "total_wall_s": round(time.perf_counter() - t_start, 2),
    }
    sys.stdout.flush()
    sys.stderr.flush()
    print(json.dumps(line, separators=(",", ":")), flush=True)
