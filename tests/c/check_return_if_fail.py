#!/usr/bin/env python3
"""No side effects inside g_return_if_fail / g_return_val_if_fail (TAP).

Under G_DISABLE_CHECKS these macros compile to nothing, condition and all: an assignment,
an increment or a call that changes something inside one vanishes with it. This scans
every .c file under the given folders for the conditions of those macros (and g_assert,
which G_DISABLE_ASSERT removes) and fails on an assignment, ++/--, or a call to a
function whose name says it changes something (checked arithmetic with an out argument,
steal, take, pop, push, add, set, ref, unref, free, read, write, seek, open, new, append,
insert, remove, clear, init, run, emit, notify, lock, unlock).

Usage: check_return_if_fail.py DIR...
"""

import pathlib
import re
import sys

MACROS = re.compile(r"\b(g_return_val_if_fail|g_return_if_fail|g_assert)\s*\(")
ASSIGN = re.compile(r"(?<![=!<>+\-*/%&|^])=(?!=)|\+\+|--|[+\-*/%&|^]=|<<=|>>=")
VERBS = {"steal", "take", "pop", "push", "add", "set", "ref", "unref", "free", "read",
         "write", "seek", "open", "new", "append", "insert", "remove", "clear", "init", "run",
         "emit", "notify", "lock", "unlock"}
CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")


def mutating(condition):
    """Whether @condition calls a function whose name has a verb that changes things."""
    for m in CALL.finditer(condition):
        name = m.group(1)
        if re.search(r"checked_(add|mul)", name) or VERBS & set(name.lower().split("_")):
            return True
    return False


def conditions(text):
    """(line, condition) of every checked macro in @text."""
    for m in MACROS.finditer(text):
        depth, i = 1, m.end()
        start = i
        while i < len(text) and depth > 0:
            if text[i] == "(":
                depth += 1
            elif text[i] == ")":
                depth -= 1
            i += 1
        args = text[start:i - 1]
        if m.group(1) == "g_return_val_if_fail":
            # the condition is everything before the last top-level comma
            depth, cut = 0, len(args)
            for k, ch in enumerate(args):
                if ch == "(":
                    depth += 1
                elif ch == ")":
                    depth -= 1
                elif ch == "," and depth == 0:
                    cut = k
            args = args[:cut]
        yield text.count("\n", 0, m.start()) + 1, args


def main():
    files = sorted(p for d in sys.argv[1:] for p in pathlib.Path(d).rglob("*.c"))
    problems, n = [], 0
    for path in files:
        text = path.read_text(encoding="utf-8")
        # comments out, so that prose inside them does not count
        text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
        for line, cond in conditions(text):
            n += 1
            flat = " ".join(cond.split())
            if ASSIGN.search(flat.replace("->", "")) or mutating(flat):
                problems.append(f"{path}:{line}: {flat}")
    print("1..1")
    if n == 0:
        print("not ok 1 - no checks found: wrong folder?")
        return 1
    if problems:
        print(f"not ok 1 - side effects in {len(problems)} of {n} checks")
        for p in problems:
            print(f"# {p}")
        return 1
    print(f"ok 1 - {n} checks without side effects")
    return 0


if __name__ == "__main__":
    sys.exit(main())
