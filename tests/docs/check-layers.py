#!/usr/bin/env python3
"""The layers of lib/ (doc/overview.md, "The layers of the library"), checked.

Every `#include "..."` of every file under lib/ is resolved to the folder that holds the
header, and a file may include headers of its own layer and of the layers ALLOWED lists for
it, nothing else. The umbrella header headrank.h is for the library's users: no file of the
library includes it (the command, a user, may). A file in a folder that is not a layer, or an
include of a header found nowhere, fails too, so that a new folder or file must be placed.

Usage:
  check-layers.py LIB_DIR        check a tree (exit 1 listing each violation)
  check-layers.py --self-test    check that a tree with a violation fails and one without passes
"""

import os
import re
import sys
import tempfile

# What each layer may include besides itself, from the bottom up.
ALLOWED = {
    'core': set(),
    'sources': {'core'},
    'measures': {'core'},
    'head': {'core', 'sources'},
    'analysis': {'core', 'sources', 'measures', 'head'},
    'report': {'core', 'sources', 'measures', 'head', 'analysis'},
    'tool': {'core', 'sources', 'measures', 'head', 'analysis', 'report'},
}

# Headers that meson generates in the build directory, with the layer of their source.
GENERATED = {
    'hr-version.h': 'core',  # core/hr-version.h.in
    'hr-enum-types.h': 'core',  # glib-mkenums: only GType functions of public enums
    'hr-head-prefixes.h': 'head',  # head/hr-head-prefixes.h.in
}

# Headers outside lib/: config.h (the build's).
OUTSIDE = {'config.h'}

UMBRELLA = 'headrank.h'

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def check(lib_dir):
    """Returns the list of violations in the tree at lib_dir."""
    where = {}  # header name -> layer
    files = []  # (path, layer)
    problems = []
    for dirpath, _dirs, names in os.walk(lib_dir):
        rel = os.path.relpath(dirpath, lib_dir)
        for name in sorted(names):
            if not name.endswith(('.c', '.h', '.h.in')):
                continue
            if rel == '.':
                if name != UMBRELLA:
                    problems.append(f'{name}: a file of lib/ outside the layer folders')
                continue
            layer = rel.split(os.sep)[0]
            if layer not in ALLOWED:
                problems.append(f'{os.path.join(rel, name)}: {layer}/ is not a layer')
                continue
            files.append((os.path.join(rel, name), layer))
            if name.endswith('.h'):
                where[name] = layer
    where.update(GENERATED)

    for path, layer in sorted(files):
        with open(os.path.join(lib_dir, path), encoding='utf-8') as f:
            text = f.read()
        # Comments do not include anything.
        text = re.sub(r'/\*.*?\*/', '', text, flags=re.S)
        for bracket, header in INCLUDE.findall(text):
            name = os.path.basename(header)
            if name == UMBRELLA:
                if layer != 'tool':
                    problems.append(f'{path}: includes the umbrella {UMBRELLA}, which is for '
                                    'the library\'s users')
                continue
            if bracket == '<':
                continue  # system and dependency headers
            if name in OUTSIDE:
                continue
            target = where.get(name)
            if target is None:
                problems.append(f'{path}: includes "{header}", found in no layer')
            elif target != layer and target not in ALLOWED[layer]:
                problems.append(f'{path}: the {layer} layer includes "{header}" of the '
                                f'{target} layer')
    return problems


def self_test():
    """A tree with one violation of each kind fails; the same tree without them passes."""
    with tempfile.TemporaryDirectory() as tmp:
        def write(rel, text):
            path = os.path.join(tmp, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'w', encoding='utf-8') as f:
                f.write(text)

        write('headrank.h', '#include "hr-source.h"\n#include "hr-analysis.h"\n')
        write('core/hr-private.h', '#include "config.h"\n#include <glib.h>\n')
        write('sources/hr-source.h', '#include "hr-private.h"\n')
        write('sources/hr-source.c', '#include "hr-private.h"\n#include "hr-source.h"\n'
              '/* #include "hr-analysis.h" in a comment is no include */\n')
        write('analysis/hr-analysis.h', '#include "hr-source.h"\n')
        write('analysis/hr-analysis.c', '#include "hr-analysis.h"\n#include "hr-version.h"\n')
        write('tool/tool.c', '#include <headrank.h>\n#include "hr-analysis.h"\n')
        good = check(tmp)
        if good:
            print('self-test: a tree that keeps the layers failed:', *good, sep='\n  ')
            return 1

        cases = {
            'sources/hr-source.c': ('#include "hr-analysis.h"\n', 'the sources layer includes'),
            'core/hr-json.c': ('#include "hr-source.h"\n', 'the core layer includes'),
            'analysis/hr-stage.c': ('#include "headrank.h"\n', 'umbrella'),
            'sources/hr-zarr.c': ('#include "hr-missing.h"\n', 'found in no layer'),
            'extra/hr-x.c': ('', 'is not a layer'),
            'hr-loose.c': ('', 'outside the layer folders'),
        }
        for rel, (line, expected) in cases.items():
            path = os.path.join(tmp, rel)
            before = open(path, encoding='utf-8').read() if os.path.exists(path) else None
            write(rel, (before or '') + line)
            found = check(tmp)
            if before is None:
                os.remove(path)
            else:
                write(rel, before)
            if not any(rel in p and expected in p for p in found):
                print(f'self-test: {rel} with {line.strip() or "nothing"!r} was not caught '
                      f'(expected "{expected}"); found: {found}')
                return 1
        if check(tmp):
            print('self-test: the tree did not come back clean')
            return 1
    print(f'self-test: {len(cases)} violations caught, the clean tree passes')
    return 0


def main(argv):
    if len(argv) == 2 and argv[1] == '--self-test':
        return self_test()
    if len(argv) != 2:
        print(__doc__[__doc__.index('Usage:'):].rstrip(), file=sys.stderr)
        return 2
    problems = check(argv[1])
    for p in problems:
        print(p)
    if problems:
        print(f'{len(problems)} include(s) break the layers of lib/')
        return 1
    print('the layers of lib/ hold')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
