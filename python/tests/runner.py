"""Run a test file's `test_*` functions without pytest: each reported, every failure shown,
the exit status failing when any did."""

import sys


def main(namespace):
    tests = [(n, f) for n, f in sorted(namespace.items()) if n.startswith("test_")]
    failed = 0
    for name, f in tests:
        try:
            f()
            print(f"ok   {name}")
        except Exception as e:  # report every failure, then fail
            failed += 1
            print(f"FAIL {name}: {type(e).__name__}: {e}")
    print(f"{len(tests) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
