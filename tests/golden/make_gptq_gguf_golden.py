#!/usr/bin/env python3
"""Golden for tests/eval/test_ppl_gptq_gguf.c: GGUFs written by `lowbit quantize --method gptq`
load in llama.cpp (llama-cpp-python) and score the perplexity lowbit reports.

GPTQ's bytes depend on OpenBLAS's sgemm/dsyrk kernels (which differ between CPUs), so the test
cannot rebuild the very same file on another machine and compare hashes; instead the files made
here are committed (tinystories-656k, ~0.5 MB each) with llama.cpp's perplexity on them, and the
test runs `lowbit ppl --numerics llamacpp` on the committed files.

usage: python3 tests/golden/make_gptq_gguf_golden.py build/lowbit
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import make_llamacpp_ppl as lp  # noqa: E402
import make_interop_golden as ig  # noqa: E402
from golden_common import sha256  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "gptq_gguf")
MODEL = "shared:models/tinystories-656k-hf"
CALIB = "shared:data/tinystories/tinystories_train_head.txt"
TEXT = "shared:data/tinystories/tinystories_validation_head.txt"
TEXT_CUT = lp.TS_656K_BYTES  # see make_llamacpp_ppl.py: llama.cpp cannot tokenize past it
N_CTX, N_CHUNKS = 256, 40
TYPES = ["Q4_0", "Q4_K_M", "Q3_K_M"]


def main():
    lowbit = sys.argv[1]
    shared = os.environ.get("LOWBIT_SHARED", os.path.join(HERE, "..", "..", "..", "shared"))
    text = open(lp.resolve(TEXT, shared), "rb").read()[:TEXT_CUT]
    if text.endswith(b"\n"):
        text = text[:-1]
    cases = []
    for t in TYPES:
        path = os.path.join(OUT, f"tinystories-656k-gptq-{t.lower()}.gguf")
        args = [lowbit, "quantize", lp.resolve(MODEL, shared), "-o", path, "--type", t, "--method", "gptq",
                "--calib", lp.resolve(CALIB, shared), "--calib-len", "256"]
        subprocess.run(args, check=True, capture_output=True)
        tokens, add_bos, bos = ig.tokenize(path, text)
        ppl, se, _, n, _ = lp.run_llama(path, tokens, N_CTX, N_CHUNKS, add_bos, bos, True)
        print(f"{t}: llama.cpp ppl {ppl:.6f} +/- {se:.5f} ({n} scored)")
        cases.append({"file": os.path.relpath(path, os.path.join(HERE, "..", "..")), "type": t, "sha256": sha256(path),
                      "command": " ".join(["lowbit"] + args[1:3] + ["-o", os.path.basename(path)] + args[5:]),
                      "ppl": ppl, "ppl_stderr": se, "n_scored": n})
    json.dump({"text": TEXT, "text_cut": TEXT_CUT, "ctx": N_CTX, "chunks": N_CHUNKS,
               "llama_cpp_python": lp.llama_cpp.__version__, "cases": cases},
              open(os.path.join(OUT, "golden.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
