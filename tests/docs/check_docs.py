#!/usr/bin/env python3
"""The docs check: every public symbol of the GIR has a description.

    check_docs.py GI-DOCGEN GIRFILE

Runs `gi-docgen check --fatal-warnings` on GIRFILE (the build's Headrank-1.0.gir), which
warns about every public symbol without documentation and, with --fatal-warnings, exits
with status 1 (gi-docgen 2023.1); the warnings are counted here too, so that a gi-docgen
that exits with 0 despite them still fails the check. As a control that the check can fail, the same check runs on a copy of the GIR
with the documentation of one function removed, and must report it.
"""
import re
import subprocess
import sys
import tempfile
from pathlib import Path


def check(gidocgen, gir):
    r = subprocess.run([gidocgen, 'check', '--fatal-warnings', '-q', str(gir)],
                       capture_output=True, text=True)
    out = r.stdout + r.stderr
    warnings = [line for line in out.splitlines() if 'WARNING' in line or 'ERROR' in line]
    return r.returncode, warnings, out


def main():
    gidocgen, gir = sys.argv[1], Path(sys.argv[2])
    rc, warnings, out = check(gidocgen, gir)
    if rc != 0 or warnings:
        print(out)
        print(f'docs check: {len(warnings)} undocumented or badly documented symbols '
              f'(gi-docgen exit status {rc})', file=sys.stderr)
        return 1

    # the control: drop the documentation of hr_stack_reader_get_path
    text = gir.read_text()
    pattern = re.compile(r'(<method name="get_path"\s+c:identifier="hr_stack_reader_get_path"'
                         r'[^>]*>\s*)<doc [^>]*>.*?</doc>', re.S)
    doctored, n = pattern.subn(r'\1', text)
    if n != 1:
        print('docs check: could not find hr_stack_reader_get_path in the GIR', file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / gir.name
        copy.write_text(doctored)
        rc, warnings, out = check(gidocgen, copy)
    if not any('StackReader.get_path' in w for w in warnings):
        print(out)
        print('docs check: the control (an undocumented function) was not reported',
              file=sys.stderr)
        return 1
    print(f'docs check: every public symbol of {gir.name} is documented '
          f'(control: the undocumented function was reported, exit status {rc})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
