"""``python -m bench``: every benchmark in turn, each appending its table to bench/RESULTS.md.

A benchmark that crashes or fails a correctness check (exactly N activations, none lost or
doubled) is reported, the others still run, and the exit status is 1. A missed time target is a
figure, not a failure.
"""

import importlib
import sys
import traceback

from bench import load_average, parse_args, report

# bench.memory's figures come from the process benchmarks; they are gathered at the end.
BENCHMARKS = ["activation", "bulk", "code_list", "insight", "sweep", "bot"]


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(__doc__.splitlines()[0], argv)
    flags = [f for f, on in (("--quick", args.quick), ("--no-record", args.no_record)) if on]
    crashed, failed = [], []
    memory = []
    load_before = load_average()
    for name in BENCHMARKS:
        print(f"\n===== bench.{name} =====", flush=True)
        try:
            rows = importlib.import_module(f"bench.{name}").main(flags)
        except Exception:
            traceback.print_exc()
            crashed.append(name)
            continue
        if not all(row.met for row in rows if row.check):
            failed.append(name)
        memory += [row for row in rows if row.measure.startswith("peak RSS")]
    if memory:
        report("Memory (peak RSS)", memory, args, load_before=load_before)
    if crashed:
        print(f"\ncrashed: {', '.join(crashed)}", file=sys.stderr)
    if failed:
        print(f"\na correctness check failed in: {', '.join(failed)}", file=sys.stderr)
    return 1 if crashed or failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
