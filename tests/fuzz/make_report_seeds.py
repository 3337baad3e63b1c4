#!/usr/bin/env python3
"""Seeds of the fuzz-report target (tests/fuzz/corpus/report): report.json files that
`headrank analyze` writes for small stacks (features alone; features and projections with
pairs), and a few broken ones (one with 1e400 in cumulative_explained_variance). Each seed is named by the SHA-1 of its content.

Usage: make_report_seeds.py HEADRANK CORPUS_DIR   (HEADRANK: the built command)
"""

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import tifffile


def too_large_in_an_array(report):
    """@report with its first cumulative_explained_variance element 1e400, a number JSON
    allows and a double cannot hold (compare refuses it as not finite)."""
    key = b'"cumulative_explained_variance" : [\n'
    at = report.index(key) + len(key)
    end = report.index(b",", at)
    return report[:at] + report[at:end].split(b"0")[0] + b"1e400" + report[end:]


def main():
    tool, corpus = sys.argv[1], Path(sys.argv[2])
    corpus.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(14)
    seeds = [b"", b"{}", b'{"report_format": 1}', b"[" * 64,
             b'{"report_format": 2, "input": {"samples": 3, "features_dimension": 2}, '
             b'"stages": [{"name": "features", "role": "features", "dimension": 2, '
             b'"has_spectrum": false}]}']
    env = dict(os.environ, LC_ALL="C.UTF-8", HEADRANK_NO_PROGRESS="1")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        x = rng.standard_normal((30, 5)).astype("<f4")
        p = x @ rng.standard_normal((5, 3)).astype("<f4")
        tifffile.imwrite(tmp / "x.tif", x)
        tifffile.imwrite(tmp / "p.tif", p)
        (tmp / "pairs.csv").write_text("".join(f"{i},{i + 1}\n" for i in range(0, 28, 2)))
        for name, args in (("a", []), ("b", ["--projections", tmp / "p.tif",
                                             "--pairs", tmp / "pairs.csv"])):
            subprocess.run([tool, "analyze", tmp / "x.tif", *args, "-o", tmp / name],
                           check=True, env=env, stdout=subprocess.DEVNULL)
            seeds.append((tmp / name / "report.json").read_bytes())
    seeds.append(too_large_in_an_array(seeds[-1]))
    for seed in seeds:
        (corpus / hashlib.sha1(seed).hexdigest()).write_bytes(seed)


if __name__ == "__main__":
    main()
