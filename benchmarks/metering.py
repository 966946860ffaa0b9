"""What processes cost, read from /proc (psutil is not needed): CPU time, resident memory and
connections of one process or of named groups, and how busy the whole machine was meanwhile.

CPU time is ``utime + stime`` of ``/proc/<pid>/stat``; peak memory is ``VmHWM`` of
``/proc/<pid>/status``, reset by writing ``5`` to ``/proc/<pid>/clear_refs`` where the kernel lets us.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` so far (None when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # fields 14 and 15 of the full line


def waiting_seconds(pid: int) -> float | None:
    """Seconds ``pid``'s main thread (an event loop's) spent runnable but waiting for a core, so far:
    the second field of ``/proc/<pid>/schedstat`` (None when it is gone or the kernel keeps no
    schedstats). On a machine whose cores are shared, this is latency no code of the process causes."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


def status_kib(pid: int, field: str) -> int | None:
    """A ``kB`` field of ``/proc/<pid>/status`` (``VmHWM``, ``VmRSS``), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def reset_peak(pid: int) -> bool:
    """Reset ``VmHWM`` of ``pid`` to its current RSS; False when the kernel refuses."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def group_rss(groups: dict[str, list[int]]) -> dict[str, int]:
    """VmRSS in KiB of each group of processes (summed)."""
    return {name: sum(status_kib(pid, "VmRSS") or 0 for pid in pids) for name, pids in groups.items()}


def machine_busy() -> tuple[float, float, float]:
    """(busy, total, irq + softirq) jiffies of the whole machine from /proc/stat (idle and iowait are
    not busy). Interrupt time (loopback TCP runs in softirqs) is charged to no process."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    total = sum(fields[:8])  # guest time is already in user
    return total - fields[3] - fields[4], total, fields[5] + fields[6]


def established(port: int) -> int:
    """TCP connections in state ESTABLISHED whose local port is ``port`` (the server's side)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "01" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


@dataclass
class Usage:
    cpu_s: float | None
    peak_rss_mb: float | None
    peak_since_start: bool  # True when the peak could not be reset for this row


class ProcessMeter:
    """CPU seconds and peak RSS of one process between ``reset()`` and ``read()``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._cpu0: float | None = None
        self._peak_reset = False

    def reset(self) -> None:
        self._cpu0 = cpu_seconds(self.pid)
        self._peak_reset = reset_peak(self.pid)

    def read(self) -> Usage:
        cpu = cpu_seconds(self.pid)
        hwm = status_kib(self.pid, "VmHWM")
        spent = None if cpu is None or self._cpu0 is None else round(cpu - self._cpu0, 3)
        return Usage(spent, None if hwm is None else round(hwm / 1024, 1), not self._peak_reset)


class CpuMeter:
    """CPU of named groups of processes between two snapshots, as % of one core, next to the
    machine's busy and interrupt time over the same while."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups

    def snapshot(self) -> dict[str, Any]:
        taken = {name: sum(cpu_seconds(pid) or 0.0 for pid in pids) for name, pids in self.groups.items()}
        waited = {name: sum(waiting_seconds(pid) or 0.0 for pid in pids) for name, pids in self.groups.items()}
        return {"at": time.monotonic(), "groups": taken, "waiting": waited, "machine": machine_busy()}

    @staticmethod
    def between(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        wall = b["at"] - a["at"]
        percent = {name: round(100 * (b["groups"][name] - a["groups"][name]) / wall, 1) for name in a["groups"]}
        busy = b["machine"][0] - a["machine"][0]
        total = b["machine"][1] - a["machine"][1]
        cores = os.cpu_count() or 1
        machine_pct = 100 * cores * busy / total if total else None
        irq_pct = 100 * cores * (b["machine"][2] - a["machine"][2]) / total if total else None
        ours = sum(percent.values())
        return {"other_percent": None if machine_pct is None else round(max(0.0, machine_pct - ours - irq_pct), 1),
                "irq_percent": None if irq_pct is None else round(irq_pct, 1),
                "wall_s": round(wall, 2), "percent_of_core": percent,
                # % of the while each group's processes waited for a core (summed over the group's processes)
                "waiting_percent": {name: round(100 * (b["waiting"][name] - a["waiting"][name]) / wall, 1)
                                    for name in a.get("waiting", {})},
                "machine_busy_percent": round(100 * cores * busy / total, 1) if total else None,
                "machine_capacity_percent": 100 * cores,
                "clock_ticks": CLOCK_TICKS}
