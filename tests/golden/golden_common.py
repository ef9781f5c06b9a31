"""Code shared by the golden-data scripts in this directory (make_logits_golden.py,
make_synthetic_models.py, make_gguf_fixtures.py): paths, the common prompt, file hashes, the
llama2.c checkpoint and tokenizer readers with run.c's encode(), llama.cpp's q/k permutation, and
the golden-logits summary (per-row top-k, logsumexp, absmax; greedy continuation) that
tests/golden_logits.c reads. Not a script: the scripts import it (run them from the repository root
as python3 tests/golden/<script>.py, which puts this directory on sys.path).

torch is imported only inside the functions that need it, so make_gguf_fixtures.py runs without it.
"""
import argparse
import hashlib
import os
import struct

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEFAULT_SHARED = os.path.join(ROOT, "..", "shared")

PROMPT = ("Once upon a time, there was a little girl named Lily who loved to play outside in the park. "
          "One day, she saw a big red ball under a tree.")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def gguf_version():
    try:
        from importlib.metadata import version
        return version("gguf")
    except Exception:
        return "unknown"


def parse_args(doc, models):
    """The golden-logits scripts' command line: --shared DIR, --only NAME ..."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("--shared", default=DEFAULT_SHARED)
    ap.add_argument("--only", nargs="*", choices=sorted(models))
    return ap.parse_args()


# ---- llama2.c (legacy checkpoint, tokenizer.bin), after llama2.c run.c ----

def read_llama2c(path):
    """run.c read_checkpoint(): the 7-int header and the float32 weights in file order (views, as
    stored: wq/wk keep Meta's interleaved RoPE pairs). Returns (hp, w)."""
    raw = open(path, "rb").read()
    dim, hidden, n_layer, n_head, n_kv, vocab, seq_len = struct.unpack("<7i", raw[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    head = dim // n_head
    kv_dim = n_kv * head
    f = np.frombuffer(raw, dtype="<f4", offset=28)
    pos = 0

    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape))
        a = f[pos:pos + n].reshape(shape)
        pos += n
        return a

    w = {"emb": take(vocab, dim), "rms_att": take(n_layer, dim), "wq": take(n_layer, dim, dim),
         "wk": take(n_layer, kv_dim, dim), "wv": take(n_layer, kv_dim, dim), "wo": take(n_layer, dim, dim),
         "rms_ffn": take(n_layer, dim), "w1": take(n_layer, hidden, dim), "w2": take(n_layer, dim, hidden),
         "w3": take(n_layer, hidden, dim), "rms_final": take(dim)}
    take(seq_len, head // 2)  # freq_cis_real, unused
    take(seq_len, head // 2)  # freq_cis_imag, unused
    w["wcls"] = w["emb"] if shared else take(vocab, dim)
    assert pos == f.size, (pos, f.size)
    hp = dict(dim=dim, hidden=hidden, n_layer=n_layer, n_head=n_head, n_kv=n_kv, vocab=vocab, seq_len=seq_len,
              shared=shared)
    return hp, w


def read_llama2c_vocab(path, n_vocab):
    """A llama2.c tokenizer.bin: [(piece bytes, score)] for the n_vocab tokens."""
    raw = open(path, "rb").read()
    pos = 4  # max_token_length, unused
    out = []
    for _ in range(n_vocab):
        score, n = struct.unpack_from("<fi", raw, pos)
        pos += 8
        out.append((raw[pos:pos + n], score))
        pos += n
    return out


def llama2c_encode(entries, text):
    """llama2.c run.c encode() (BOS added separately): dummy ' ' prefix, UTF-8 code points looked
    up as pieces (byte fallback id = byte + 3), then merge the best-scoring adjacent pair, the
    leftmost on ties, while any merge exists. A byte token's piece is the text "<0xNN>", so no
    merge ever joins across a newline: each line is merged on its own (same result, fast)."""
    lookup = {}
    for i, (t, _) in enumerate(entries):
        lookup.setdefault(t, i)
    out = []
    for n_line, line in enumerate(text.split("\n")):
        if n_line:
            out.append(ord("\n") + 3)
        ids = [lookup[b" "]] if n_line == 0 and text else []
        for ch in line:
            cp = ch.encode("utf-8")
            ids.extend([lookup[cp]] if cp in lookup else [x + 3 for x in cp])
        while True:
            best, best_id, best_i = -1e10, -1, -1
            for k in range(len(ids) - 1):
                t = lookup.get(entries[ids[k]][0] + entries[ids[k + 1]][0])
                if t is not None and entries[t][1] > best:
                    best, best_id, best_i = entries[t][1], t, k
            if best_i < 0:
                break
            ids[best_i:best_i + 2] = [best_id]
        out.extend(ids)
    return out


# ---- GGUF: llama.cpp's converter conventions ----

def permute(w, n_head, n_head_kv=None):
    """convert_hf_to_gguf.py LlamaModel.permute: HF rotate-half rows -> Meta interleaved pairs."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


# ---- golden logits (the format tests/golden_logits.c reads) ----

def logits_of(model, ids):
    """All positions' logits of one full forward pass (no KV cache), float64."""
    import torch
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), use_cache=False)
        return out.logits[0].to(torch.float64)


def summarize_rows(logits, n_top):
    """Per position of a [n_tokens][n_vocab] torch tensor: argmax, top-n_top [id, logit as float32],
    logsumexp, absmax (max |logit|)."""
    import torch
    rows = []
    for t in range(logits.shape[0]):
        row = logits[t]
        top = torch.topk(row, n_top)
        rows.append(dict(argmax=int(top.indices[0]),
                         top=[[int(i), float(np.float32(v))] for v, i in zip(top.values, top.indices)],
                         logsumexp=float(torch.logsumexp(row, 0)), absmax=float(row.abs().max())))
    return rows


def greedy(model, ids, n_predict, eos):
    """Up to n_predict greedy tokens after ids, a full forward pass over the whole sequence each
    step (argmax of the last row), stopping before eos. Returns (tokens, top1-top2 margin of each
    step, stopped_at_eos)."""
    import torch
    seq, gen, margins = list(ids), [], []
    for _ in range(n_predict):
        top2 = torch.topk(logits_of(model, seq)[-1], 2)
        nxt = int(top2.indices[0])
        if nxt == eos:
            return gen, margins, True
        gen.append(nxt)
        margins.append(float(top2.values[0] - top2.values[1]))
        seq.append(nxt)
    return gen, margins, False
