"""`python -m bench [SECTION ...] [--quick] [--runs N]`: run the sections and print one table."""
import argparse
import importlib
import os
import sys
import time
import traceback

from bench.report import Table

SECTIONS = {
    "mail": "bench.mail",
    "register": "bench.register",
    "page": "bench.page",
    "captcha": "bench.cpu",
    "ocr-offline": "bench.solver",
    "ocr": "bench.solver",
    "hash": "bench.cpu",
    "stats": "bench.recurring",
    "backup": "bench.recurring",
    "avatar": "bench.avatar",
    "load": "bench.signups",
    "connections": "bench.connections",
}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("sections", nargs="*", metavar="SECTION", help=f"any of: {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="one run, smaller sizes: a smoke test of the bench")
    parser.add_argument("--runs", type=int, default=None, help="repetitions per figure (default 3, quick 1)")
    args = parser.parse_args(argv)
    unknown = [name for name in args.sections if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    runs = args.runs or (1 if args.quick else 3)
    table = Table()
    started = time.monotonic()
    for name in args.sections or SECTIONS:
        module = importlib.import_module(SECTIONS[name])
        try:
            getattr(module, f"run_{name.replace('-', '_')}", getattr(module, "run", None))(table, runs, args.quick)
        except Exception:  # one broken section must not cost the figures of the others
            traceback.print_exc()
            table.missing(name, "section", "failed (traceback above)")
    notes = [f"runs: {runs}{' (quick)' if args.quick else ''}, bench took {time.monotonic() - started:.0f} s, "
             f"load average at the end {' '.join(f'{v:.2f}' for v in os.getloadavg())}"]
    print(table.render(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
