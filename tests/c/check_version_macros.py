#!/usr/bin/env python3
"""The version macros at compile time (TAP).

Compiles small programs against the headers with the C compiler the project uses and
-Werror: a function added in 0.2 must fail to compile under
-DHR_VERSION_MAX_ALLOWED=HR_VERSION_0_1 and compile without it; a function deprecated in
0.2 must fail under the default HR_VERSION_MIN_REQUIRED and compile with
-DHR_VERSION_MIN_REQUIRED=HR_VERSION_0_1; contradictory bounds must stop with #error.

Usage: check_version_macros.py "CC ARGS" INCLUDEDIR...
"""

import os
import shlex
import subprocess
import sys
import tempfile

USES_0_1 = """
#include <headrank.h>
int main (void)
{
  g_autoptr (GError) error = NULL;
  HrStackReader *reader = hr_stack_reader_new ("x.tif", HR_STACK_LAYOUT_AUTO, NULL, &error); /* 0.1 */
  HrAnalysis *analysis = hr_analysis_new (reader); /* 0.1 */
  g_clear_object (&analysis);
  g_clear_object (&reader);
  return 0;
}
"""

USES_0_2 = """
#include <headrank.h>
int main (void)
{
  return (int) hr_get_major_version (); /* 0.2 */
}
"""

USES_DEPRECATED = """
#include <headrank.h>
int main (void)
{
  HrAnalysis *analysis = hr_analysis_new (NULL);
  int ok = hr_analysis_get_features (analysis) == NULL; /* deprecated in 0.2 */
  g_object_unref (analysis);
  return ok ? 0 : 1;
}
"""


def pkg_config_cflags():
    out = subprocess.run(["pkg-config", "--cflags", "glib-2.0", "gobject-2.0", "gio-2.0"],
                         capture_output=True, text=True, check=True)
    return shlex.split(out.stdout)


def compile_program(cc, includes, source, defines):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "program.c")
        with open(path, "w", encoding="utf-8") as f:
            f.write(source)
        cmd = cc + ["-std=c11", "-Wall", "-Werror", "-fsyntax-only"] + defines
        cmd += [f"-I{d}" for d in includes] + pkg_config_cflags() + [path]
        r = subprocess.run(cmd, capture_output=True, text=True)
        return r.returncode, r.stderr


CASES = [
    # (name, source, defines, must compile, text the failure must show)
    ("0.1 function under MAX_ALLOWED=0.1 compiles", USES_0_1,
     ["-DHR_VERSION_MAX_ALLOWED=HR_VERSION_0_1"], True, None),
    ("0.2 function under MAX_ALLOWED=0.1 fails", USES_0_2,
     ["-DHR_VERSION_MAX_ALLOWED=HR_VERSION_0_1"], False, "Not available before 0.2"),
    ("0.2 function without a bound compiles", USES_0_2, [], True, None),
    ("function deprecated in 0.2 under MAX_ALLOWED=0.1 compiles", USES_DEPRECATED,
     ["-DHR_VERSION_MAX_ALLOWED=HR_VERSION_0_1"], True, None),
    ("0.2 function under MAX_ALLOWED=0.2 compiles", USES_0_2,
     ["-DHR_VERSION_MAX_ALLOWED=HR_VERSION_0_2"], True, None),
    ("function deprecated in 0.2 fails by default", USES_DEPRECATED, [], False,
     "Use 'hr_analysis_get_source' instead"),
    ("function deprecated in 0.2 under MIN_REQUIRED=0.1 compiles", USES_DEPRECATED,
     ["-DHR_VERSION_MIN_REQUIRED=HR_VERSION_0_1"], True, None),
    ("function deprecated in 0.2 with HR_DISABLE_DEPRECATION_WARNINGS compiles",
     USES_DEPRECATED, ["-DHR_DISABLE_DEPRECATION_WARNINGS"], True, None),
    ("MAX_ALLOWED below MIN_REQUIRED is an error", USES_0_1,
     ["-DHR_VERSION_MIN_REQUIRED=HR_VERSION_0_2", "-DHR_VERSION_MAX_ALLOWED=HR_VERSION_0_1"],
     False, "HR_VERSION_MAX_ALLOWED must be >= HR_VERSION_MIN_REQUIRED"),
    ("MIN_REQUIRED newer than the headers is an error", USES_0_1,
     ["-DHR_VERSION_MIN_REQUIRED=G_ENCODE_VERSION(99,0)"], False,
     "HR_VERSION_MIN_REQUIRED must be <= HR_VERSION_CUR_STABLE"),
]


def main():
    cc = shlex.split(sys.argv[1])
    includes = sys.argv[2:]
    print(f"1..{len(CASES)}")
    failed = 0
    for i, (name, source, defines, must_compile, text) in enumerate(CASES, 1):
        rc, stderr = compile_program(cc, includes, source, defines)
        ok = (rc == 0) == must_compile and (text is None or text in stderr)
        if not ok:
            failed += 1
            print(f"not ok {i} - {name}")
            print("# exit status %d, stderr:" % rc)
            for line in stderr.splitlines()[:20]:
                print(f"#   {line}")
        else:
            print(f"ok {i} - {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
