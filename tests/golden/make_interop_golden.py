#!/usr/bin/env python3
"""The interop acceptance check's golden data: the GGUFs that lowbit writes for the two real models
load in llama.cpp, and llama.cpp's perplexity on them is what tests/eval/test_ppl_interop.c
compares `lowbit ppl` against (DESIGN.md: "A GGUF we write loads in llama.cpp; perplexity from
`lowbit ppl` and `llama-perplexity` on the same file and text agree to 0.1%").

For each model (TinyStories-656K, HF directory; stories260K, llama2.c checkpoint) and each type
(f32 and q8_0 through `lowbit convert`, Q4_0 and Q4_K_M through `lowbit quantize`), this script
runs the lowbit CLI given on the command line to write the GGUF into a temporary directory, and
records
  the file   its size, sha256 and FNV-1a 64 (the hash the test recomputes: the committed
             llama.cpp numbers apply to those very bytes, so the test first checks that the CLI
             under test still writes them), and the ggml type of every tensor as gguf-py reads it;
  llama.cpp  through llama-cpp-python (PyPI): its token count and token hash of the text
             (llama.cpp's tokenizer built from the vocabulary we wrote), and the perplexity of
             make_llamacpp_ppl.py's llama-perplexity protocol (BOS per chunk, second half of each
             chunk scored) with llama-perplexity's defaults (KV cache F16, flash attention on);
             ppl_f32kv (F32 KV cache, flash attention off) and, for files with quantized tensors,
             ppl_dequant_f32 (the same weights dequantized to F32 by gguf-py) as controls.
The files themselves are not committed.

Protocol: text = the first TEXT_CUT bytes of the TinyStories validation text (up to the story break
before the first character TinyStories-656K's vocabulary cannot encode, as make_llamacpp_ppl.py
explains), one trailing newline dropped as llama-perplexity -f does; n_ctx 512 (llama-perplexity's
default and both models' training context), the first N_CHUNKS = 16 chunks (4,080 scored tokens).
Why 16: with 8-bit activations (all but the f32 files) the result depends chaotically on the last
bits of everything computed before each rounding, so two equally exact implementations (lowbit and
llama.cpp, or llama.cpp with an F16 and with an F32 KV cache) differ by ~2e-3 in each chunk's mean
NLL, without bias (measured on these 6 files over 64 chunks: per-chunk spread 1.9-2.4e-3, mean
differences within 2 standard errors). The perplexities then agree to about 2e-3 / sqrt(n_chunks):
7e-4 at 8 chunks, 5e-4 at 16, against the 1e-3 criterion; 16 is what the test's 30 s allow on 2
cores (the 260K files run lowbit's reference Q5_0/F16 kernels).

usage (from the repository root):
    python3 tests/golden/make_interop_golden.py build/lowbit [--shared ../shared]
"""
import argparse
import collections
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import gguf
import llama_cpp
import numpy as np

from golden_common import DEFAULT_SHARED, ROOT, gguf_version, sha256
import make_llamacpp_ppl as lp

OUT = os.path.join(ROOT, "tests", "golden", "interop", "ppl.json")
TEXT = "shared:data/tinystories/tinystories_validation_head.txt"
TEXT_CUT = lp.TS_656K_BYTES
N_CTX = 512
N_CHUNKS = 16

MODELS = {  # name: source as the test passes it to the CLI
    "tinystories-656k": "shared:models/tinystories-656k-hf",
    "stories260k": "shared:models/stories260K-llama2c/stories260K.bin",
}
TYPES = [("f32", "convert"), ("q8_0", "convert"), ("Q4_0", "quantize"), ("Q4_K_M", "quantize")]


def fnv1a64_file(path):
    """FNV-1a 64 of a file's bytes (as tests/eval/test_ppl_interop.c computes it), hex."""
    h = 0xCBF29CE484222325
    for b in open(path, "rb").read():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def lowbit_args(verb, src, out, typ):
    """The CLI arguments; the test builds the same string (src resolved, out in its temp dir)."""
    return [verb, src, "-o", out, "--type", typ]


def tokenize(model, text):
    """llama-perplexity's token stream (common_tokenize, add_special, no parse_special), add_bos, bos."""
    llm = llama_cpp.Llama(model_path=model, n_ctx=64, n_threads=lp.N_THREADS, verbose=False)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    add_bos = bool(llama_cpp.llama_vocab_get_add_bos(vocab))
    assert not llama_cpp.llama_vocab_get_add_eos(vocab)  # llama-perplexity asserts this too
    bos = int(llama_cpp.llama_vocab_bos(vocab))
    tokens = llm.tokenize(text, add_bos=True, special=False)
    del llm
    return tokens, add_bos, bos


def one_case(lowbit, shared, tmp, model, src_spec, typ, verb, text):
    name = f"{model}-{typ.lower()}"
    path = os.path.join(tmp, name + ".gguf")
    src = lp.resolve(src_spec, shared)
    r = subprocess.run([lowbit] + lowbit_args(verb, src, path, typ), capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"{name}: lowbit {verb} failed ({r.returncode}):\n{r.stderr}")
    types = collections.Counter(t.tensor_type.name for t in gguf.GGUFReader(path).tensors)

    tokens, add_bos, bos = tokenize(path, text)
    n_chunks = min(N_CHUNKS, len(tokens) // N_CTX)
    assert n_chunks == N_CHUNKS, (name, len(tokens))
    t0 = time.time()
    ppl, se, mean, n_scored, per_chunk = lp.run_llama(path, tokens, N_CTX, n_chunks, add_bos, bos, True)
    t1 = time.time()
    ppl32 = lp.run_llama(path, tokens, N_CTX, n_chunks, add_bos, bos, False)[0]
    ppl_deq, chunk_deq = None, None
    deq = os.path.join(tmp, name + "-dequant-f32.gguf")
    if lp.dequantized_copy(path, deq):
        res = lp.run_llama(deq, tokens, N_CTX, n_chunks, add_bos, bos, False)
        ppl_deq, chunk_deq = res[0], res[4]
        os.remove(deq)
    case = {
        "name": name,
        "model": src_spec,
        "verb": verb,
        "type": typ,
        "file_bytes": os.path.getsize(path),
        "file_sha256": sha256(path),
        "file_fnv1a64": fnv1a64_file(path),
        "tensor_types": dict(sorted(types.items())),
        "add_bos": add_bos,
        "bos_id": bos,
        "n_text_tokens": len(tokens),
        "tokens_fnv1a64": lp.fnv1a64(tokens),
        "n_chunks": n_chunks,
        "n_scored": n_scored,
        "ppl": ppl,
        "ppl_stderr": se,
        "nll_mean": mean,
        "chunk_nll": per_chunk,
        "ppl_f32kv": ppl32,
        "ppl_dequant_f32": ppl_deq,
        "chunk_nll_dequant_f32": chunk_deq,
        "seconds": round(t1 - t0, 2),
    }
    deq_s = "" if ppl_deq is None else f", dequantized to F32 {ppl_deq:.6f}"
    print(f"{name}: {case['file_bytes']} bytes {case['file_fnv1a64']} {dict(types)}; {len(tokens)} tokens; "
          f"ppl {ppl:.6f} +/- {se:.5f} (F32 KV {ppl32:.6f}{deq_s}), {t1 - t0:.1f} s")
    return case


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("lowbit", help="the lowbit CLI that writes the GGUFs (e.g. build/lowbit)")
    ap.add_argument("--shared", default=DEFAULT_SHARED)
    a = ap.parse_args()
    shared, lowbit = os.path.abspath(a.shared), os.path.abspath(a.lowbit)
    raw = open(lp.resolve(TEXT, shared), "rb").read()
    text = raw[:TEXT_CUT]
    if text.endswith(b"\n"):  # llama-perplexity -f
        text = text[:-1]
    try:
        rev = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True,
                             text=True).stdout.strip()
    except OSError:
        rev = "unknown"
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        for model, src in MODELS.items():
            for typ, verb in TYPES:
                cases.append(one_case(lowbit, shared, tmp, model, src, typ, verb, text))
    out = {
        "what": "llama.cpp's perplexity on the GGUFs `lowbit convert`/`lowbit quantize` write for the real models",
        "text": TEXT,
        "text_sha256": sha256(lp.resolve(TEXT, shared)),
        "text_cut": TEXT_CUT,
        "text_bytes": len(text),
        "text_note": "the first text_cut bytes of the file, then one trailing newline dropped as llama-perplexity -f "
                     "does: text_bytes bytes are tokenized",
        "protocol": "llamacpp",
        "n_ctx": N_CTX,
        "n_chunks": N_CHUNKS,
        "cli": "lowbit VERB MODEL -o FILE --type TYPE (VERB, MODEL, TYPE per case)",
        "settings": "ppl: KV cache F16, flash attention on (llama-perplexity defaults on CPU); ppl_f32kv: KV cache "
                    "F32, flash attention off; ppl_dequant_f32 (files with quantized tensors): the weights "
                    "dequantized to F32 by gguf-py, KV cache F32, flash attention off; "
                    f"n_threads {lp.N_THREADS}, one chunk per decode",
        "lowbit_revision": rev,
        "tool": f"llama-cpp-python {llama_cpp.__version__} (llama.cpp vendored), gguf {gguf_version()}, "
                f"{llama_cpp.llama_print_system_info().decode().strip()}",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "command": "python3 tests/golden/make_interop_golden.py build/lowbit",
        "cases": cases,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("->", os.path.relpath(OUT, ROOT))


if __name__ == "__main__":
    main()
