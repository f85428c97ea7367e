"""Runs the portable test modules on the MicroPython interpreter (which has no pytest).

Usage: micropython tests/mprun.py tests/portable [-k substring] [-v]
Finds every test_*.py module and every test_* function in it, runs each, reports failures
with their traceback and ends with a pytest-style summary line.
"""

import os
import sys


class Skipped(Exception):
    pass


def _modules(folder):
    names = sorted(n for n in os.listdir(folder) if n.startswith("test_") and n.endswith(".py"))
    return [n[:-3] for n in names]


def main(argv):
    folder = "tests/portable"
    pattern = None
    verbose = False
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "-k":
            i += 1
            pattern = argv[i]
        elif a == "-v":
            verbose = True
        else:
            folder = a
        i += 1
    if folder not in sys.path:
        sys.path.insert(0, folder)
    passed = failed = skipped = 0
    failures = []
    for modname in _modules(folder):
        try:
            mod = __import__(modname)
        except Exception as e:
            failed += 1
            failures.append((modname, e))
            print("%s: ERROR at import" % modname)
            continue
        names = sorted(n for n in dir(mod) if n.startswith("test_"))
        for name in names:
            fn = getattr(mod, name)
            if not callable(fn):
                continue
            full = "%s::%s" % (modname, name)
            if pattern and pattern not in full:
                continue
            try:
                fn()
            except Skipped as e:
                skipped += 1
                if verbose:
                    print(full, "SKIPPED", e)
                continue
            except Exception as e:
                failed += 1
                failures.append((full, e))
                print(full, "FAILED")
                continue
            passed += 1
            if verbose:
                print(full, "PASSED")
    for full, e in failures:
        print("=" * 20, full)
        sys.print_exception(e)
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print("micropython: " + line)
    sys.exit(1 if failed or not passed else 0)


main(sys.argv)
