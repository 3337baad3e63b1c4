#!/usr/bin/env python3
"""How the parts of the rank tolerance grow with N (doc/analysis.md, "The rank tolerance").

Runs `headrank analyze --json` on N × 16 float32 samples, standard normal scaled by singular
values spread over a factor of 10 (seed 1), for N = 10³, 10⁵, 10⁶ and 2²³, and prints the
accumulation bound δ_S, the squared value error e², their ratio and τ relative to the
smallest and the largest singular value. Usage: tools/tolerance-scaling.py build/lib/headrank
(writes one temporary TIFF of up to 537 MB).
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import tifffile

D = 16


def main(tool):
    scale = np.geomspace(1, 0.1, D)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "samples.tif"
        for n in (1000, 100000, 1000000, 2 ** 23):
            rng = np.random.default_rng(1)
            x = np.empty((n, D), np.float32)
            for a in range(0, n, 1 << 20):
                b = min(n, a + (1 << 20))
                x[a:b] = rng.standard_normal((b - a, D)) * scale
            tifffile.imwrite(path, x)
            del x
            p = subprocess.run([tool, "analyze", path, "--json"], capture_output=True, text=True,
                               check=True)
            (st,) = [s for s in json.loads(p.stdout)["stages"] if s["name"] == "features"]
            parts, tau = st["rank_tolerance_parts"], st["rank_tolerance"]
            sv = st["singular_values"]
            print(f"N = {n}: δ_S = {parts['scatter_error']:.3g}, e² = {parts['value_error'] ** 2:.3g}, "
                  f"δ_S/e² = {parts['scatter_error'] / parts['value_error'] ** 2:.3g}, "
                  f"τ/σ_min = {tau / sv[D - 1]:.3g}, τ/σ₁ = {tau / sv[0]:.3g}, rank {st['rank']}",
                  flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
