import sys, numpy as np, gi
gi.require_version('Headrank', '1.0')
from gi.repository import GLib, Headrank
rng = np.random.default_rng(1)
n, d = 1_000_000, 16
x = (rng.normal(size=(n, d)) * np.geomspace(1, 10, d)).astype(np.float32)
def acc(rows):
    m = Headrank.Moments.new(d, 0, Headrank.Precision.FLOAT64)
    for f in range(0, len(rows), 100_000):
        m.add_bytes(GLib.Bytes.new(rows[f:f + 100_000].tobytes()))
    return m
single = acc(x)
S1 = np.frombuffer(single.get_scatter().get_data()).reshape(d, d)
print(f"N={n} D={d} trace={np.trace(S1):.4g} single bound={single.get_error_bound():.3g}")
for k in (2, 10, 100, 1000):
    parts = [Headrank.Moments.new_from_bytes(acc(p).to_bytes()) for p in np.array_split(x, k)]
    while len(parts) > 1:
        nxt = []
        for i in range(0, len(parts), 2):
            if i + 1 < len(parts):
                parts[i].add_moments(parts[i + 1])
            nxt.append(parts[i])
        parts = nxt
    m = parts[0]
    S = np.frombuffer(m.get_scatter().get_data()).reshape(d, d)
    print(f"parts={k} merged bound={m.get_error_bound():.3g} |S_merged-S_single|_2={np.linalg.norm(S - S1, 2):.3g}")
