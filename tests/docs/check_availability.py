#!/usr/bin/env python3
"""Checks that every public declaration of headrank carries the availability macro of
the version its documentation gives.

A function or type documented with `Since: 0.2` is declared `HR_AVAILABLE_IN_0_2`; one
without `Since:` is from the first API, `HR_AVAILABLE_IN_0_1`; one documented
`Deprecated: 0.2` is declared `HR_DEPRECATED_IN_0_2` or `HR_DEPRECATED_IN_0_2_FOR (...)`.
`HR_AVAILABLE_IN_ALL` is for the generated enumeration types only (as in GIO), so a
hand-written header must not use it. A public function declared without any of these
macros is not exported at all (the library is built with hidden visibility) and fails too.

Usage: check_availability.py LIBDIR [--fix]
  --fix  rewrites the headers' macros to match the documentation (then check again)
"""

import pathlib
import re
import sys

MACRO = re.compile(r"^(HR_AVAILABLE_IN_(?:ALL|\d+_\d+)|HR_DEPRECATED_IN_\d+_\d+(?:_FOR\s*\([^)]*\))?)\s*$")
DOC = re.compile(r"/\*\*\s*\n\s*\*\s*([A-Za-z_][A-Za-z0-9_]*)\s*:(?!:)[^\n]*\n(.*?)\*/", re.S)
SINCE = re.compile(r"^\s*\*\s*Since:\s*(\d+)\.(\d+)", re.M)
DEPRECATED = re.compile(r"^\s*\*\s*Deprecated:\s*(\d+)\.(\d+)", re.M)
# the public headers: those that include the "Only <headrank.h>" guard
PUBLIC = "Only <headrank.h> can be included directly."


def documented(libdir):
    """symbol -> (since, deprecated) from the doc comments of every .c and .h file."""
    docs = {}
    for path in sorted(libdir.rglob("*.[ch]")) + sorted(libdir.rglob("*.h.in")):
        for m in DOC.finditer(path.read_text(encoding="utf-8")):
            since = SINCE.search(m.group(2))
            dep = DEPRECATED.search(m.group(2))
            docs[m.group(1)] = (
                f"{since.group(1)}_{since.group(2)}" if since else "0_1",
                f"{dep.group(1)}_{dep.group(2)}" if dep else None,
            )
    return docs


def declared_symbol(lines, start):
    """The symbol declared from line @start on (a function or a G_DECLARE_ type)."""
    text = ""
    for line in lines[start:]:
        text += " " + line.strip()
        if ";" in line or ")" in line and text.strip().startswith("G_DECLARE_"):
            break
    m = re.match(r"\s*G_DECLARE_\w+_TYPE\s*\(\s*(\w+)", text)
    if m:
        return m.group(1)
    m = re.search(r"(\w+)\s*\(", text)
    return m.group(1) if m else None


def type_name(symbol):
    """hr_stack_info_get_type -> HrStackInfo"""
    return "".join(part.capitalize() for part in symbol[: -len("_get_type")].split("_"))


def check(libdir, fix):
    docs = documented(libdir)
    problems = []
    n_checked = 0
    for header in sorted(libdir.rglob("*.h")):
        text = header.read_text(encoding="utf-8")
        if PUBLIC not in text or header.name in ("hr-version-macros.h",):
            continue
        lines = text.split("\n")
        changed = False
        for i, line in enumerate(lines):
            m = MACRO.match(line.strip())
            if not m:
                # a function declaration without any macro before it
                fm = re.match(r"^(?:const\s+)?[A-Za-z_]\w*\s*\**\s*(hr_\w+)\s*\(", line)
                if fm and not MACRO.match(lines[i - 1].strip()) and not line.startswith("#"):
                    problems.append(f"{header.name}:{i + 1}: {fm.group(1)} has no availability macro")
                continue
            symbol = declared_symbol(lines, i + 1)
            if symbol is None:
                problems.append(f"{header.name}:{i + 1}: cannot tell what {m.group(1)} declares")
                continue
            n_checked += 1
            if symbol not in docs and symbol.endswith("_get_type"):
                symbol = type_name(symbol)
            since, dep = docs.get(symbol, ("0_1", None))
            if symbol not in docs:
                problems.append(f"{header.name}:{i + 1}: {symbol} has no doc comment")
            got = m.group(1)
            if dep is not None:
                ok = got.startswith(f"HR_DEPRECATED_IN_{dep}")
                want = f"HR_DEPRECATED_IN_{dep}_FOR (...) or HR_DEPRECATED_IN_{dep}"
            else:
                want = f"HR_AVAILABLE_IN_{since}"
                ok = got == want
            if not ok:
                if fix and dep is None:
                    lines[i] = line.replace(got, want)
                    changed = True
                else:
                    problems.append(f"{header.name}:{i + 1}: {symbol} is {got}, its documentation says {want}")
        if changed:
            header.write_text("\n".join(lines), encoding="utf-8")
    return n_checked, problems


def main():
    libdir = pathlib.Path(sys.argv[1])
    fix = "--fix" in sys.argv[2:]
    n_checked, problems = check(libdir, fix)
    if n_checked == 0:
        problems.append(f"no public declarations found under {libdir}")
    for p in problems:
        print(p)
    print(f"{n_checked} declarations checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
