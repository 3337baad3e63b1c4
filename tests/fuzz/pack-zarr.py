#!/usr/bin/env python3
"""Packs zarr stores into fuzz-zarr inputs: each file as a line "@@ PATH" and its bytes.

    python3 tests/fuzz/pack-zarr.py OUT_DIR STORE.zarr…

writes OUT_DIR/NAME (NAME: the store's folder name without .zarr). The seeds of
tests/fuzz/corpus/zarr were packed from tests/data/zarr/stores (make_stores.py there).
"""
import sys
from pathlib import Path

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
for store in map(Path, sys.argv[2:]):
    parts = []
    for f in sorted(p for p in store.rglob("*") if p.is_file()):
        parts.append(b"@@ " + f.relative_to(store).as_posix().encode() + b"\n" + f.read_bytes())
    (out / store.name.removesuffix(".zarr")).write_bytes(b"\n".join(parts))
