#!/usr/bin/env python3
"""Perplexity of a GGUF as llama.cpp's llama-perplexity computes it, through llama-cpp-python
(PyPI), for tests/eval/test_ppl_llamacpp.c to compare lowbit against.

It reproduces llama-perplexity (tools/perplexity/perplexity.cpp, perplexity(), no --ppl-stride):
  text     the file as `-f` reads it: its bytes (here optionally only the first --text-bytes),
           minus one trailing '\\n' (common/arg.cpp drops it);
  tokens   common_tokenize(ctx, text, add_special=true, parse_special=false): llama.cpp's own
           tokenizer from the GGUF vocabulary, BOS first when the vocabulary adds BOS;
  chunks   n_chunk = min(--chunks, n_tokens / n_ctx) chunks tokens[i*n_ctx, (i+1)*n_ctx), each
           evaluated from an empty KV cache, its first token overwritten by BOS when the
           vocabulary adds BOS (llama_vocab_get_add_bos);
  scoring  positions j in [n_ctx/2, n_ctx-1) predict tokens[j+1]: nll = log(sum exp(l - max))
           - (l[tok] - max), exponentials in float (expf), their sum in double; ppl = exp(mean),
           stderr = ppl * sqrt((mean(nll^2) - mean^2) / (count - 1)).
  context  llama-perplexity's defaults: KV cache F16, flash attention "auto" (which is on for
           the CPU backend). A second pass with an F32 KV cache and flash attention off is
           recorded as ppl_f32kv, to tell llama.cpp's own rounding apart from real differences.
  control  for a GGUF with quantized tensors, llama.cpp's matmuls also round the activations to
           8 bits (ggml's vec_dot_type: Q8_1 for Q4_1/Q5_1, Q8_0 for Q4_0/Q5_0/Q8_0, Q8_K for
           k-quants). To separate that from everything else, the same weights dequantized to F32
           (gguf-py's dequantize, written to a temporary GGUF with the same metadata) are scored
           too, F32 KV, no flash attention: ppl_dequant_f32.
llama.cpp does the tokenization and the forward pass; this script only sums the scores. It
evaluates one chunk per decode (llama-perplexity packs n_batch/n_ctx chunks into one batch as
separate sequences, which gives the same per-sequence results).

Output tests/golden/ppl/<name>.json: the model and text (with sha256), text_bytes (bytes of the
file used after the newline strip), n_ctx, n_chunks, add_bos, bos_id, n_text_tokens (llama.cpp's
token count of the whole text), tokens_fnv1a64 (FNV-1a 64 of those tokens as int32 little-endian,
hex), first_tokens, ppl, ppl_stderr, nll_mean, n_scored, chunk_nll (mean NLL per chunk),
ppl_f32kv, tool versions and the command.

usage: make_llamacpp_ppl.py --all                    every golden the test uses (the table CASES)
       make_llamacpp_ppl.py --only NAME [NAME ...]   some of them
       make_llamacpp_ppl.py MODEL.gguf TEXT N_CTX N_CHUNKS OUT.json [--text-bytes N]
Paths in CASES: "source:" = repository root, "shared:" = ../shared (or --shared).
"""
import argparse
import hashlib
import json
import math
import os
import platform
import sys
import tempfile
import time

import numpy as np
import llama_cpp

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_DIR = os.path.join(ROOT, "tests", "golden", "ppl")
N_THREADS = 2

TS_TEXT = "shared:data/tinystories/tinystories_validation_head.txt"
# The TinyStories-656K vocabulary has no <0xNN> pieces, and llama.cpp's byte fallback throws on a
# character outside the vocabulary; the first one in the text ("â€œ", mojibake) is at byte 362,498,
# so that model reads the text up to the story break before it.
TS_656K_BYTES = 362474

CASES = {
    # name: (model, text, n_ctx, n_chunks, text_bytes or None for the whole file)
    "smollm2-135m-q4_1-wiki-c512": ("source:.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf",
                                    "shared:data/wikitext-2-raw/wiki.test.raw", 512, 8, None),
    "stories260k-ts-c256": ("source:tests/golden/gguf/stories260k.gguf", TS_TEXT, 256, 40, None),
    "stories260k-ts-c512": ("source:tests/golden/gguf/stories260k.gguf", TS_TEXT, 512, 40, None),
    "tinystories-656k-ts-c256": ("source:tests/golden/gguf/tinystories-656k.gguf", TS_TEXT, 256, 40, TS_656K_BYTES),
    "tinystories-656k-ts-c512": ("source:tests/golden/gguf/tinystories-656k.gguf", TS_TEXT, 512, 40, TS_656K_BYTES),
}


def resolve(p, shared):
    if p.startswith("source:"):
        return os.path.join(ROOT, p[len("source:"):])
    if p.startswith("shared:"):
        return os.path.join(shared, p[len("shared:"):])
    return p


def fnv1a64(tokens):
    h = 0xCBF29CE484222325
    for b in np.asarray(tokens, dtype="<i4").tobytes():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def chunk_nll(logits, chunk, first):
    """llama-perplexity log_softmax() for rows first .. n_ctx-2 of one chunk."""
    rows = logits[first:len(chunk) - 1]                        # float32 [n, n_vocab]
    mx = rows.max(axis=1)                                      # float32, as max_logit
    sum_exp = np.exp(rows - mx[:, None]).astype(np.float64).sum(axis=1)  # expf, summed in double
    tgt = rows[np.arange(len(rows)), np.asarray(chunk[first + 1:])]
    return np.log(sum_exp) - (tgt - mx).astype(np.float64)


def run_llama(model, tokens, n_ctx, n_chunks, add_bos, bos, f16_kv):
    kv = llama_cpp.GGML_TYPE_F16 if f16_kv else llama_cpp.GGML_TYPE_F32
    llm = llama_cpp.Llama(model_path=model, n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx, logits_all=True,
                          n_threads=N_THREADS, n_threads_batch=N_THREADS, type_k=kv, type_v=kv,
                          flash_attn=f16_kv, verbose=False)
    first = n_ctx // 2
    nll, per_chunk = [], []
    for c in range(n_chunks):
        chunk = list(tokens[c * n_ctx:(c + 1) * n_ctx])
        if add_bos:
            chunk[0] = bos
        llm.reset()  # eval() then drops the whole KV cache (memory_seq_rm from n_tokens = 0)
        llm.eval(chunk)
        v = chunk_nll(np.asarray(llm.scores[:n_ctx], dtype=np.float32), chunk, first)
        nll.append(v)
        per_chunk.append(float(v.mean()))
    del llm
    nll = np.concatenate(nll)
    mean = float(nll.sum() / len(nll))
    var = float((nll * nll).sum() / len(nll)) - mean * mean
    ppl = math.exp(mean)
    return ppl, (ppl * math.sqrt(var / (len(nll) - 1)) if var > 0 else 0.0), mean, len(nll), per_chunk


FLOAT_TYPES = ("F32", "F16", "BF16", "F64")


def dequantized_copy(model, out):
    """The GGUF with every tensor dequantized to F32 (gguf-py), metadata copied as it is."""
    import gguf
    r = gguf.GGUFReader(model)
    if all(t.tensor_type.name in FLOAT_TYPES for t in r.tensors):
        return False
    w = gguf.GGUFWriter(out, r.fields["general.architecture"].contents())
    for k, f in r.fields.items():
        if k.startswith("GGUF.") or k == "general.architecture":
            continue
        if k == "general.file_type":
            w.add_file_type(gguf.LlamaFileType.ALL_F32)
            continue
        vt = f.types[0]
        w.add_key_value(k, f.contents(), vt, sub_type=f.types[-1] if vt == gguf.GGUFValueType.ARRAY else None)
    for t in r.tensors:
        w.add_tensor(t.name, np.ascontiguousarray(gguf.dequantize(t.data, t.tensor_type), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return True


def make(name, model_spec, text_spec, n_ctx, n_chunks, text_bytes, shared, out_path):
    model, text_path = resolve(model_spec, shared), resolve(text_spec, shared)
    raw = open(text_path, "rb").read()
    text = raw if text_bytes is None else raw[:text_bytes]
    if text.endswith(b"\n"):  # llama-perplexity -f
        text = text[:-1]
    llm = llama_cpp.Llama(model_path=model, n_ctx=64, n_threads=N_THREADS, verbose=False)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    add_bos = bool(llama_cpp.llama_vocab_get_add_bos(vocab))
    assert not llama_cpp.llama_vocab_get_add_eos(vocab)  # llama-perplexity asserts this too
    bos = int(llama_cpp.llama_vocab_bos(vocab))
    tokens = llm.tokenize(text, add_bos=True, special=False)  # add_special = true
    del llm
    n_chunks = min(n_chunks, len(tokens) // n_ctx)
    if len(tokens) < 2 * n_ctx:
        sys.exit(f"{name}: {len(tokens)} tokens, llama-perplexity needs at least {2 * n_ctx}")
    t0 = time.time()
    ppl, se, mean, n_scored, per_chunk = run_llama(model, tokens, n_ctx, n_chunks, add_bos, bos, True)
    t1 = time.time()
    ppl32, se32, _, _, _ = run_llama(model, tokens, n_ctx, n_chunks, add_bos, bos, False)
    ppl_deq, chunk_deq = None, None
    with tempfile.TemporaryDirectory() as tmp:
        deq = os.path.join(tmp, "dequant-f32.gguf")
        if dequantized_copy(model, deq):
            r = run_llama(deq, tokens, n_ctx, n_chunks, add_bos, bos, False)
            ppl_deq, chunk_deq = r[0], r[4]
    res = {
        "name": name,
        "model": model_spec,
        "model_sha256": hashlib.sha256(open(model, "rb").read()).hexdigest(),
        "text": text_spec,
        "text_sha256": hashlib.sha256(raw).hexdigest(),
        "text_bytes": len(text),
        "text_note": "the first text_bytes bytes of the file: llama-perplexity -f drops one trailing newline"
                     + ("" if text_bytes is None else f"; the file was first cut to {text_bytes} bytes"),
        "protocol": "llamacpp",
        "n_ctx": n_ctx,
        "n_chunks": n_chunks,
        "add_bos": add_bos,
        "bos_id": bos,
        "n_text_tokens": len(tokens),
        "tokens_fnv1a64": fnv1a64(tokens),
        "first_tokens": [int(t) for t in tokens[:16]],
        "n_scored": n_scored,
        "ppl": ppl,
        "ppl_stderr": se,
        "nll_mean": mean,
        "chunk_nll": per_chunk,
        "ppl_f32kv": ppl32,
        "ppl_dequant_f32": ppl_deq,
        "chunk_nll_dequant_f32": chunk_deq,
        "settings": "KV cache F16, flash attention on (llama-perplexity defaults on CPU); ppl_f32kv: KV cache F32, "
                    "flash attention off; ppl_dequant_f32 (quantized models only): the weights dequantized to F32, "
                    f"KV cache F32, flash attention off; n_threads {N_THREADS}, one chunk per decode",
        "seconds": round(t1 - t0, 1),
        "tool": f"llama-cpp-python {llama_cpp.__version__} (llama.cpp vendored), "
                f"{llama_cpp.llama_print_system_info().decode().strip()}",
        "python": platform.python_version(),
        "command": "python3 tests/golden/make_llamacpp_ppl.py --only " + name,
    }
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(res, f, indent=1)
        f.write("\n")
    print(f"{name}: ppl {ppl:.6f} +/- {se:.5f} (F32 KV: {ppl32:.6f}, dequantized to F32: {ppl_deq}), {n_scored} scored, "
          f"{len(tokens)} text tokens, {t1 - t0:.1f} s -> {os.path.relpath(out_path, ROOT)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("args", nargs="*", help="MODEL.gguf TEXT N_CTX N_CHUNKS OUT.json")
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--only", nargs="+", default=[])
    ap.add_argument("--text-bytes", type=int, default=None)
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    a = ap.parse_args()
    shared = os.path.abspath(a.shared)
    if a.all or a.only:
        for name in (CASES if a.all else a.only):
            model, text, n_ctx, n_chunks, nbytes = CASES[name]
            if not os.path.exists(resolve(model, shared)):
                print(f"{name}: {model} not found, skipped")
                continue
            make(name, model, text, n_ctx, n_chunks, nbytes, shared, os.path.join(OUT_DIR, name + ".json"))
    elif len(a.args) == 5:
        model, text, n_ctx, n_chunks, out = a.args
        make(os.path.splitext(os.path.basename(out))[0], os.path.abspath(model), os.path.abspath(text), int(n_ctx),
             int(n_chunks), a.text_bytes, shared, out)
    else:
        ap.print_usage()
        sys.exit(2)


if __name__ == "__main__":
    main()
