"""``python -m bench``: every benchmark in turn, each appending its table to bench/RESULTS.md.

A benchmark that crashes is reported and the others still run; the exit status is 1 then. A
target that is missed is a figure, not a failure.
"""

import importlib
import sys
import traceback

from bench import parse_args

BENCHMARKS = ["activation", "bulk", "code_list", "sweep", "bot", "memory"]


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(__doc__.splitlines()[0], argv)
    flags = [f for f, on in (("--quick", args.quick), ("--no-record", args.no_record)) if on]
    crashed = []
    for name in BENCHMARKS:
        print(f"\n===== bench.{name} =====", flush=True)
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"bench.{name}":
                raise
            print(f"bench.{name}: not written yet", flush=True)
            continue
        try:
            module.main(flags)
        except Exception:
            traceback.print_exc()
            crashed.append(name)
    if crashed:
        print(f"\ncrashed: {', '.join(crashed)}", file=sys.stderr)
    return 1 if crashed else 0


if __name__ == "__main__":
    raise SystemExit(main())
