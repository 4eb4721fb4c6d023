#!/usr/bin/env python3
"""Run every moat test: the unit test binaries (built with ASan and UBSan)
and the integration tests against the real daemon on loopback.  Ends with
one line "N passed, N failed"; exits non-zero on any failure.

    python3 tests/run.py [--unit | --integration] [-k SUBSTRING] [-v]
"""
import argparse
import glob
import importlib.util
import os
import re
import subprocess
import sys
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

COUNT_RE = re.compile(r"^(\d+) passed, (\d+) failed")


def run_unit(args):
    passed = failed = 0
    for binary in sorted(glob.glob(os.path.join(ROOT, "obj-san", "tests", "test_*"))):
        if binary.endswith(".d") or not os.access(binary, os.X_OK):
            continue
        name = os.path.basename(binary)
        if args.k and args.k not in name:
            continue
        try:
            p = subprocess.run([binary], capture_output=True, text=True,
                               timeout=120, cwd=ROOT)
            out = p.stdout + p.stderr
            m = None
            for line in out.splitlines():
                m = COUNT_RE.match(line) or m
            if m is None or p.returncode != 0:
                failed += 1 if m is None else int(m.group(2)) or 1
                passed += int(m.group(1)) if m else 0
                print(f"FAIL unit {name} (exit {p.returncode})")
                print(out[-3000:])
            else:
                passed += int(m.group(1))
                if args.v:
                    print(f"ok   unit {name}: {m.group(0)}")
        except subprocess.TimeoutExpired:
            failed += 1
            print(f"FAIL unit {name}: timeout")
    return passed, failed


def run_integration(args):
    passed = failed = 0
    files = sorted(glob.glob(os.path.join(ROOT, "tests", "integration", "test_*.py")))
    for path in files:
        modname = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(modname, path)
        mod = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(mod)
        except Exception:
            failed += 1
            print(f"FAIL {modname}: import error")
            traceback.print_exc()
            continue
        tests = [(n, getattr(mod, n)) for n in sorted(dir(mod))
                 if n.startswith("test_") and callable(getattr(mod, n))]
        for name, fn in tests:
            full = f"{modname}.{name}"
            if args.k and args.k not in full:
                continue
            t0 = time.time()
            try:
                fn()
                passed += 1
                if args.v:
                    print(f"ok   {full} ({time.time() - t0:.1f}s)")
            except Exception:
                failed += 1
                print(f"FAIL {full} ({time.time() - t0:.1f}s)")
                traceback.print_exc()
            sys.stdout.flush()
        teardown = getattr(mod, "teardown_module", None)
        if teardown:
            try:
                teardown()
            except Exception:
                failed += 1
                print(f"FAIL {modname}.teardown_module")
                traceback.print_exc()
    return passed, failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--unit", action="store_true")
    ap.add_argument("--integration", action="store_true")
    ap.add_argument("-k", default="")
    ap.add_argument("-v", action="store_true")
    args = ap.parse_args()
    both = not args.unit and not args.integration
    passed = failed = 0
    if args.unit or both:
        p, f = run_unit(args)
        passed += p
        failed += f
    if args.integration or both:
        p, f = run_integration(args)
        passed += p
        failed += f
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
