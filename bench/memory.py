"""Peak memory (VmHWM, the resident-set high-water mark) of the web, bot and worker processes.

The figures come from the benchmarks that run those processes for real (``code_list``: gunicorn;
``sweep``: RQ workers; ``bot``: ``python -m bot``), read from /proc just before each process is
stopped. ``python -m bench.memory`` runs those three and gathers their memory rows in one table.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench import Row, load_average, parse_args, report, run_cli


def vm_hwm_kib(pid: int) -> int | None:
    """The process's peak resident set size in KiB, or ``None`` if it is gone (Linux only)."""
    return _status_kib(pid, "VmHWM")


def vm_rss_kib(pid: int) -> int | None:
    """The process's resident set size now, in KiB."""
    return _status_kib(pid, "VmRSS")


def _status_kib(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (scanning /proc, so no dependency is needed)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces; the ppid follows it.
        if int(stat.rpartition(")")[2].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def mib(kib: int | None) -> str:
    return "?" if kib is None else f"{kib / 1024:.0f} MiB"


def peak_rss_row(label: str, pid: int, *, with_children: bool = False) -> Row:
    """One row: the process's peak RSS, and each child's (gunicorn's workers) when asked."""
    figure = f"{mib(vm_hwm_kib(pid))} (now {mib(vm_rss_kib(pid))})"
    if with_children:
        kids = [(vm_hwm_kib(c), vm_rss_kib(c)) for c in children(pid)]
        kids = [(peak, now) for peak, now in kids if peak is not None]
        if kids:
            figure += " master; workers " + ", ".join(
                f"{mib(peak)} (now {mib(now)})" for peak, now in kids
            )
    return Row(f"peak RSS: {label}", figure)


def main(argv=None) -> list[Row]:
    args = parse_args(__doc__.splitlines()[0], argv)
    load_before = load_average()
    flags = [f for f, on in (("--quick", args.quick), ("--no-record", True)) if on]
    rows: list[Row] = []
    import importlib

    for name in ("code_list", "sweep", "bot"):
        module = importlib.import_module(f"bench.{name}")
        rows += [r for r in module.main(flags) if r.measure.startswith("peak RSS")]
    report("Memory (peak RSS)", rows, args, load_before=load_before)
    return rows


if __name__ == "__main__":
    run_cli(main)
