#!/usr/bin/env python3
"""What llama-quantize itself writes, for tests/model/test_quantize_llamacpp.c to compare
`lowbit quantize` against: for each fixture GGUF (tests/golden/gguf/, written with gguf-py) and
each file type, llama.cpp's llama_model_quantize (through llama-cpp-python, PyPI) quantizes the
fixture, and this script records every output tensor's name, ggml type, byte size and the
FNV-1a 64 hash of its bytes (the files themselves are not committed).

usage (from the repository root): python3 tests/golden/make_llama_quantize_golden.py
"""
import ctypes
import json
import os
import tempfile

import llama_cpp
from gguf import GGUFReader

FIXTURES = ["tests/golden/gguf/tinystories-656k.gguf", "tests/golden/gguf/stories260k.gguf"]
FTYPES = {"Q8_0": 7, "Q4_0": 2, "Q4_1": 3, "Q5_0": 8, "Q4_K_M": 15, "Q3_K_M": 12, "Q2_K": 10, "Q6_K": 18}


def fnv1a64(data: bytes) -> str:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def main():
    out = {"tool": f"llama-cpp-python {llama_cpp.__version__} llama_model_quantize (default params)",
           "command": "python3 tests/golden/make_llama_quantize_golden.py", "cases": []}
    with tempfile.TemporaryDirectory() as tmp:
        for fx in FIXTURES:
            for name, code in FTYPES.items():
                dst = os.path.join(tmp, "q.gguf")
                p = llama_cpp.llama_model_quantize_default_params()
                p.ftype = code
                p.nthread = 2
                rc = llama_cpp.llama_model_quantize(fx.encode(), dst.encode(), ctypes.byref(p))
                assert rc == 0, (fx, name, rc)
                tensors = [{"name": t.name, "type": t.tensor_type.name, "n_bytes": int(t.n_bytes),
                            "fnv1a64": fnv1a64(t.data.tobytes())} for t in GGUFReader(dst).tensors]
                out["cases"].append({"fixture": fx, "type": name, "tensors": tensors})
                print(fx, name, len(tensors), "tensors")
    with open("tests/golden/llama_quantize/tensors.json", "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
