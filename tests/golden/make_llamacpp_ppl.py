#!/usr/bin/env python3
"""Perplexity of a GGUF as llama.cpp computes it, through llama-cpp-python (PyPI), for
tests/eval/test_ppl_llamacpp.c to compare `lowbit ppl` against.

It reproduces llama-perplexity's loop (tools/perplexity/perplexity.cpp, perplexity()):
tokenize the whole text with the vocabulary's add_bos, cut n_ctx-token chunks, overwrite each
chunk's first token with BOS when add_bos, evaluate the chunk in a fresh context, and score
positions [n_ctx/2, n_ctx-1) against the next token with a log-softmax (max-subtracted, sum of
exponentials in double). llama.cpp does the tokenization and the forward pass; this script only
sums the scores.

usage: make_llamacpp_ppl.py MODEL.gguf TEXT N_CTX N_CHUNKS OUT.json
"""
import json
import math
import sys

import numpy as np
import llama_cpp


def main():
    model, text_path, n_ctx, n_chunks, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    llm = llama_cpp.Llama(model_path=model, n_ctx=n_ctx, n_batch=n_ctx, n_ubatch=n_ctx, logits_all=True,
                          n_threads=2, verbose=False)
    text = open(text_path, "rb").read()
    add_bos = llama_cpp.llama_vocab_get_add_bos(llama_cpp.llama_model_get_vocab(llm.model)) if hasattr(
        llama_cpp, "llama_vocab_get_add_bos") else llm._model.add_bos_token()
    tokens = llm.tokenize(text, add_bos=bool(add_bos), special=False)
    bos = llm.token_bos()
    first = n_ctx // 2
    nll = []
    for c in range(n_chunks):
        chunk = list(tokens[c * n_ctx:(c + 1) * n_ctx])
        if add_bos:
            chunk[0] = bos
        llm.reset()
        llm.eval(chunk)
        logits = np.array(llm.scores[:n_ctx], dtype=np.float32)
        for j in range(first, n_ctx - 1):
            row = logits[j].astype(np.float64)
            mx = float(logits[j].max())
            lse = math.log(np.exp(row - mx).sum())
            nll.append(lse - (float(logits[j][chunk[j + 1]]) - mx))
    nll = np.array(nll)
    mean = nll.mean()
    var = (nll ** 2).mean() - mean ** 2
    ppl = math.exp(mean)
    res = {
        "model": model.split("/")[-1], "text": text_path.split("shared/")[-1], "n_ctx": n_ctx, "n_chunks": n_chunks,
        "add_bos": bool(add_bos), "n_text_tokens": len(tokens), "n_scored": int(len(nll)),
        "ppl": ppl, "ppl_stderr": ppl * math.sqrt(var / (len(nll) - 1)),
        "tool": f"llama-cpp-python {llama_cpp.__version__}",
        "command": " ".join(["tests/golden/make_llamacpp_ppl.py"] + [a.split("shared/")[-1] for a in sys.argv[1:]]),
    }
    json.dump(res, open(out, "w"), indent=1)
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
