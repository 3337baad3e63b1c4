#!/usr/bin/env python3
"""Seeds for fuzz-safetensors that reach the `__metadata__` map: the architecture that
tools/extract-head.py records (`arch`, `arch_from`, `source`), valid, unparseable, of the
wrong JSON type, given twice, and next to a head whose tensors it does or does not fit.

    python3 tests/fuzz/make_metadata_seeds.py

rewrites tests/fuzz/corpus/safetensors/metadata--*.
"""
import json
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "corpus" / "safetensors"
HEAD = HERE.parent / "data" / "heads" / "viscy-v2-lightning.safetensors"


def split(data):
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def join(header_text, payload):
    if isinstance(header_text, dict):
        header_text = json.dumps(header_text, separators=(",", ":"))
    raw = header_text.encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + payload


def main():
    for p in OUT.glob("metadata--*"):
        p.unlink()
    header, payload = split(HEAD.read_bytes())
    seeds = {}

    def with_metadata(meta):
        h = dict(header)
        h["__metadata__"] = meta
        return join(h, payload)

    seeds["arch-preset"] = with_metadata({"arch": "viscy-v2", "arch_from": "checkpoint",
                                          "source": "epoch=94.ckpt"})
    seeds["arch-spec"] = with_metadata({"arch": "linear:32,bn,relu,linear:16,bn"})
    seeds["arch-wrong-widths"] = with_metadata({"arch": "linear:7,bn,relu,linear:3"})
    seeds["arch-unparseable"] = with_metadata({"arch": "linear:x,,bn"})
    seeds["arch-unknown-preset"] = with_metadata({"arch": "no-such-preset"})
    seeds["arch-empty"] = with_metadata({"arch": ""})
    seeds["arch-unicode"] = with_metadata({"arch": "lin\u00e9ar:4,\u2028bn", "source": "\u00ff"})
    seeds["arch-long"] = with_metadata({"arch": ",".join(["linear:4", "relu"] * 500)})
    seeds["metadata-number"] = join(json.dumps(header, separators=(",", ":"))[:-1]
                                    + ',"__metadata__":{"arch":5}}', payload)
    seeds["metadata-array"] = join(json.dumps(header, separators=(",", ":"))[:-1]
                                   + ',"__metadata__":["arch"]}', payload)
    seeds["metadata-twice"] = join(json.dumps(header, separators=(",", ":"))[:-1]
                                   + ',"__metadata__":{"arch":"viscy-v2","arch":"bogus"}}', payload)
    seeds["metadata-only"] = join({"__metadata__": {"arch": "viscy-v2"}}, b"")
    for name, b in seeds.items():
        (OUT / f"metadata--{name}.safetensors").write_bytes(b)
    print(f"{len(seeds)} seeds in {OUT}")


if __name__ == "__main__":
    main()
