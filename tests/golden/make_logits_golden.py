#!/usr/bin/env python3
"""Golden logits for tests/model/test_logits.c, computed by an implementation independent of
lowbit: Hugging Face transformers' LlamaForCausalLM in PyTorch, float64, eval mode, one full
forward pass per call (no KV cache).

For each model it writes tests/golden/logits/<name>.json (+ <name>.bin):
  prompt_ids          16 token ids, a real tokenization of PROMPT by the model's own tokenizer
                      (BOS first when the model's tokenizer adds one), cut to its first 16 tokens
  rows[16]            per position: argmax, top-20 [id, logit], logsumexp, absmax (max |logit|)
  full_rows_first     the .bin holds logits[full_rows_first:16][n_vocab] as little-endian f32
                      (every row for the tiny models, the last 4 for SmolLM2 to keep the repo small)
  greedy              20 greedy tokens after the prompt (argmax of a full forward pass each step,
                      stopping before EOS), with the top1-top2 logit margin of each step
  provenance          versions, command, model file sha256

Models:
  tinystories-656k   ../shared/models/tinystories-656k-hf            from_pretrained as is
  stories260k        ../shared/models/stories260K-llama2c/*.bin      llama2.c legacy checkpoint read
                     here; wq/wk permuted from Meta's interleaved RoPE pairs to HF rotate-half exactly
                     like transformers' convert_llama_weights_to_hf.py `permute`
  smollm2-135m-q4_1  .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf   transformers' own GGUF loader
                     (gguf-py dequantization + transformers' q/k un-permute), loaded into
                     LlamaForCausalLM without accelerate

Precision note: the model runs in float64, but HF's LlamaRMSNorm normalizes in float32 and the
RoPE cos/sin tables are computed in float32, so the reference is float32-accurate (about 1e-6
relative), well inside the test's 1e-4 tolerance.

Usage (from the repository root):
  python3 tests/golden/make_logits_golden.py [--shared ../shared] [--only NAME ...]
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import struct
import sys

import numpy as np
import torch

import transformers
from transformers import AutoConfig, AutoTokenizer, LlamaConfig, LlamaForCausalLM

PROMPT = ("Once upon a time, there was a little girl named Lily who loved to play outside in the park. "
          "One day, she saw a big red ball under a tree.")
N_TOKENS = 16
N_TOP = 20
N_GREEDY = 20

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT_DIR = os.path.join(ROOT, "tests", "golden", "logits")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


# ---- llama2.c tokenizer (tok512.bin), after llama2.c run.c encode() ----

def llama2c_read_tokenizer(path, n_vocab):
    with open(path, "rb") as f:
        data = f.read()
    (max_len,) = struct.unpack_from("<i", data, 0)
    off = 4
    vocab, scores = [], []
    for _ in range(n_vocab):
        score, n = struct.unpack_from("<fi", data, off)
        off += 8
        vocab.append(data[off:off + n])
        scores.append(score)
        off += n
    return vocab, scores


def llama2c_encode(text, vocab, scores, bos=True):
    """run.c encode(): BOS, a dummy " " prefix token, one token per UTF-8 character (bytes + 3
    as fallback), then repeatedly merge the adjacent pair whose concatenation is the
    best-scoring vocab entry (first such pair on ties)."""
    lookup = {}
    for i, piece in enumerate(vocab):
        lookup.setdefault(piece, i)
    ids = [1] if bos else []
    raw = text.encode("utf-8")
    if raw:
        ids.append(lookup[b" "])
    for ch in text:
        b = ch.encode("utf-8")
        if b in lookup:
            ids.append(lookup[b])
        else:
            ids.extend(x + 3 for x in b)
    start = 1 if bos else 0
    while True:
        best, best_id, best_i = -1e10, -1, -1
        for i in range(start, len(ids) - 1):
            j = lookup.get(vocab[ids[i]] + vocab[ids[i + 1]])
            if j is not None and scores[j] > best:
                best, best_id, best_i = scores[j], j, i
        if best_i < 0:
            break
        ids[best_i:best_i + 2] = [best_id]
    return ids


# ---- llama2.c legacy checkpoint -> HF LlamaForCausalLM ----

def load_llama2c(path):
    with open(path, "rb") as f:
        data = f.read()
    dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len = struct.unpack_from("<7i", data, 0)
    shared = vocab > 0
    vocab = abs(vocab)
    head = dim // n_heads
    kv_dim = n_kv_heads * head
    w = np.frombuffer(data, dtype="<f4", offset=28)
    off = 0

    def take(*shape):
        nonlocal off
        n = int(np.prod(shape))
        a = w[off:off + n].reshape(shape)
        off += n
        return torch.tensor(a.astype(np.float64))

    emb = take(vocab, dim)
    rms_att = take(n_layers, dim)
    wq = take(n_layers, dim, dim)
    wk = take(n_layers, kv_dim, dim)
    wv = take(n_layers, kv_dim, dim)
    wo = take(n_layers, dim, dim)
    rms_ffn = take(n_layers, dim)
    w1 = take(n_layers, hidden, dim)
    w2 = take(n_layers, dim, hidden)
    w3 = take(n_layers, hidden, dim)
    rms_final = take(dim)
    off += seq_len * head // 2 * 2  # freq_cis_real, freq_cis_imag: unused RoPE tables
    wcls = emb if shared else take(vocab, dim)
    assert off == w.size, (off, w.size)

    cfg = LlamaConfig(vocab_size=vocab, hidden_size=dim, intermediate_size=hidden, num_hidden_layers=n_layers,
                      num_attention_heads=n_heads, num_key_value_heads=n_kv_heads, max_position_embeddings=seq_len,
                      rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=shared, bos_token_id=1,
                      eos_token_id=2, hidden_act="silu", attention_bias=False, mlp_bias=False)

    # convert_llama_weights_to_hf.py: interleaved pairs (2i, 2i+1) -> halves (i, i + head/2)
    def permute(x, heads, dim1, dim2):
        return x.view(heads, dim1 // heads // 2, 2, dim2).transpose(1, 2).reshape(dim1, dim2)

    sd = {"model.embed_tokens.weight": emb, "model.norm.weight": rms_final, "lm_head.weight": wcls}
    for i in range(n_layers):
        p = f"model.layers.{i}."
        sd[p + "input_layernorm.weight"] = rms_att[i]
        sd[p + "self_attn.q_proj.weight"] = permute(wq[i], n_heads, dim, dim)
        sd[p + "self_attn.k_proj.weight"] = permute(wk[i], n_kv_heads, kv_dim, dim)
        sd[p + "self_attn.v_proj.weight"] = wv[i]
        sd[p + "self_attn.o_proj.weight"] = wo[i]
        sd[p + "post_attention_layernorm.weight"] = rms_ffn[i]
        sd[p + "mlp.gate_proj.weight"] = w1[i]
        sd[p + "mlp.down_proj.weight"] = w2[i]
        sd[p + "mlp.up_proj.weight"] = w3[i]
    return cfg, sd


def llama2c_numpy_forward(path, ids):
    """A direct float64 transcription of llama2.c run.c forward(): interleaved RoPE pairs on the
    unpermuted weights. Used only to cross-check the permuted HF model above."""
    with open(path, "rb") as f:
        data = f.read()
    dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len = struct.unpack_from("<7i", data, 0)
    vocab = abs(vocab)
    hs = dim // n_heads
    kv_dim = n_kv_heads * hs
    w = np.frombuffer(data, dtype="<f4", offset=28).astype(np.float64)
    off = 0

    def take(*shape):
        nonlocal off
        n = int(np.prod(shape))
        a = w[off:off + n].reshape(shape)
        off += n
        return a

    emb, rms_att = take(vocab, dim), take(n_layers, dim)
    wq, wk, wv, wo = take(n_layers, dim, dim), take(n_layers, kv_dim, dim), take(n_layers, kv_dim, dim), take(n_layers, dim, dim)
    rms_ffn = take(n_layers, dim)
    w1, w2, w3 = take(n_layers, hidden, dim), take(n_layers, dim, hidden), take(n_layers, hidden, dim)
    rms_final = take(dim)

    def rmsnorm(x, g):
        return g * x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-5)

    def rope(x, nh):  # x [T][nh*hs], rotate pairs (2i, 2i+1) by pos * 10000^(-2i/hs)
        x = x.reshape(len(ids), nh, hs // 2, 2).copy()
        pos = np.arange(len(ids))[:, None, None]
        ang = pos * 10000.0 ** (-np.arange(0, hs, 2) / hs)[None, None, :]
        c, s = np.cos(ang), np.sin(ang)
        a, b = x[..., 0].copy(), x[..., 1].copy()
        x[..., 0], x[..., 1] = a * c - b * s, a * s + b * c
        return x.reshape(len(ids), nh * hs)

    T = len(ids)
    x = emb[ids]
    mask = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(n_layers):
        xn = rmsnorm(x, rms_att[l])
        q, k, v = rope(xn @ wq[l].T, n_heads), rope(xn @ wk[l].T, n_kv_heads), xn @ wv[l].T
        att = np.zeros((T, dim))
        for h in range(n_heads):
            kh = h // (n_heads // n_kv_heads)
            sc = q[:, h * hs:(h + 1) * hs] @ k[:, kh * hs:(kh + 1) * hs].T / np.sqrt(hs) + mask
            p = np.exp(sc - sc.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            att[:, h * hs:(h + 1) * hs] = p @ v[:, kh * hs:(kh + 1) * hs]
        x = x + att @ wo[l].T
        xn = rmsnorm(x, rms_ffn[l])
        g = xn @ w1[l].T
        x = x + ((g / (1 + np.exp(-g))) * (xn @ w3[l].T)) @ w2[l].T
    return rmsnorm(x, rms_final) @ emb.T


def build(cfg, sd):
    cfg._attn_implementation = "eager"
    model = LlamaForCausalLM(cfg).to(torch.float64).eval()
    missing, unexpected = model.load_state_dict({k: v.to(torch.float64) for k, v in sd.items()}, strict=False)
    missing = [k for k in missing if not (k == "lm_head.weight" and cfg.tie_word_embeddings)]
    assert not missing and not unexpected, (missing, unexpected)
    if cfg.tie_word_embeddings:
        model.tie_weights()
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    return model


# ---- the three models ----

def model_tinystories(shared):
    d = os.path.join(shared, "models", "tinystories-656k-hf")
    tok = AutoTokenizer.from_pretrained(d)
    ids = tok(PROMPT)["input_ids"]
    model = LlamaForCausalLM.from_pretrained(d, dtype=torch.float64, attn_implementation="eager").eval()
    decode = lambda t: tok.decode(t)
    return dict(name="tinystories-656k", path="shared:models/tinystories-656k-hf",
                file=os.path.join(d, "model.safetensors"), model=model, ids=ids, eos=2, decode=decode,
                tokenizer="transformers AutoTokenizer (tokenizer.json)")


def model_stories260k(shared):
    d = os.path.join(shared, "models", "stories260K-llama2c")
    path = os.path.join(d, "stories260K.bin")
    cfg, sd = load_llama2c(path)
    vocab, scores = llama2c_read_tokenizer(os.path.join(d, "tok512.bin"), cfg.vocab_size)
    ids = llama2c_encode(PROMPT, vocab, scores, bos=True)
    model = build(cfg, sd)
    # cross-check the wq/wk permutation: HF rotate-half on permuted weights == llama2.c pairs
    ref = llama2c_numpy_forward(path, ids[:N_TOKENS])
    got = logits_of(model, ids[:N_TOKENS]).numpy()
    err = np.abs(got - ref).max() / np.abs(ref).max()
    print(f"stories260k: HF vs llama2.c-style numpy forward: max |diff| / max |logit| = {err:.3g}")
    assert err < 1e-5, err
    decode = lambda t: b"".join(vocab[i] for i in t).decode("utf-8", "replace")
    return dict(name="stories260k", path="shared:models/stories260K-llama2c/stories260K.bin", file=path,
                model=model, ids=ids, eos=2, decode=decode,
                tokenizer="llama2.c encode() re-implemented in this script on tok512.bin")


def model_smollm2(shared):
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint
    d = os.path.join(ROOT, ".cache", "models")
    name = "SmolLM2-135M-Instruct.Q4_1.gguf"
    path = os.path.join(d, name)
    if not os.path.exists(path):
        print(f"skip smollm2: {path} missing (scripts/fetch-default-model.sh)", file=sys.stderr)
        return None
    cfg = AutoConfig.from_pretrained(d, gguf_file=name)
    tok = AutoTokenizer.from_pretrained(d, gguf_file=name)
    skeleton = LlamaForCausalLM(cfg).eval()
    sd = load_gguf_checkpoint(path, return_tensors=True, model_to_load=skeleton)["tensors"]
    model = build(cfg, {k: torch.as_tensor(np.asarray(v)) for k, v in sd.items()})
    # GGUF says tokenizer.ggml.add_bos_token = false: SmolLM2 text starts without BOS.
    ids = tok(PROMPT)["input_ids"]
    decode = lambda t: tok.decode(t)
    return dict(name="smollm2-135m-q4_1", path="source:.cache/models/" + name, file=path, model=model, ids=ids,
                eos=cfg.eos_token_id, decode=decode,
                tokenizer="transformers AutoTokenizer from the GGUF (add_bos_token false: no BOS)",
                full_rows_first=N_TOKENS - 4)


MODELS = {"tinystories-656k": model_tinystories, "stories260k": model_stories260k,
          "smollm2-135m-q4_1": model_smollm2}


# ---- golden data ----

@torch.no_grad()
def logits_of(model, ids):
    out = model(input_ids=torch.tensor([ids]), use_cache=False)
    return out.logits[0].to(torch.float64)


def write_golden(spec, argv):
    model, ids = spec["model"], spec["ids"][:N_TOKENS]
    assert len(ids) == N_TOKENS, f"{spec['name']}: prompt is only {len(spec['ids'])} tokens"
    logits = logits_of(model, ids)  # [16][n_vocab]
    n_vocab = logits.shape[1]
    rows = []
    for t in range(N_TOKENS):
        row = logits[t]
        top = torch.topk(row, N_TOP)
        rows.append(dict(argmax=int(top.indices[0]),
                         top=[[int(i), float(np.float32(v))] for v, i in zip(top.values, top.indices)],
                         logsumexp=float(torch.logsumexp(row, 0)), absmax=float(row.abs().max())))

    # greedy: a full forward pass over the whole sequence each step, argmax of the last row
    seq, gen, margins = list(ids), [], []
    stopped_at_eos = False
    for _ in range(N_GREEDY):
        last = logits_of(model, seq)[-1]
        top2 = torch.topk(last, 2)
        nxt = int(top2.indices[0])
        if nxt == spec["eos"]:
            stopped_at_eos = True
            break
        gen.append(nxt)
        margins.append(float(top2.values[0] - top2.values[1]))
        seq.append(nxt)

    first = spec.get("full_rows_first", 0)
    full = logits[first:].to(torch.float32).numpy().astype("<f4")
    bin_name = spec["name"] + ".bin"
    bin_path = os.path.join(OUT_DIR, bin_name)
    full.tofile(bin_path)

    doc = dict(
        model=spec["name"], model_path=spec["path"], model_sha256=sha256(spec["file"]),
        prompt_text=PROMPT, prompt_tokenizer=spec["tokenizer"],
        prompt_ids=ids, prompt_decoded=spec["decode"](ids),
        n_tokens=N_TOKENS, n_vocab=int(n_vocab),
        full_rows_first=first, full_rows_file=bin_name, full_rows_dtype="float32 little-endian",
        full_rows_shape=[N_TOKENS - first, int(n_vocab)], full_rows_sha256=sha256(bin_path),
        rows=rows,
        greedy=dict(n_predict=N_GREEDY, tokens=gen, margins=margins, stopped_at_eos=stopped_at_eos,
                    text=spec["decode"](gen)),
        provenance=dict(
            generator="tests/golden/make_logits_golden.py",
            command="python3 " + " ".join(argv),
            implementation="transformers LlamaForCausalLM, eager attention, float64, eval, use_cache=False",
            python=platform.python_version(), torch=torch.__version__, transformers=transformers.__version__,
            numpy=np.__version__, gguf=_gguf_version(),
            date=datetime.date.today().isoformat()),
    )
    with open(os.path.join(OUT_DIR, spec["name"] + ".json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"{spec['name']}: ids {ids}\n  greedy {gen} (min margin {min(margins) if margins else 0:.4g})\n"
          f"  text: {doc['prompt_decoded']!r} -> {doc['greedy']['text']!r}")


def _gguf_version():
    try:
        from importlib.metadata import version
        return version("gguf")
    except Exception:
        return "unknown"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=os.path.join(ROOT, "..", "shared"))
    ap.add_argument("--only", nargs="*", choices=sorted(MODELS))
    args = ap.parse_args()
    torch.manual_seed(0)
    os.makedirs(OUT_DIR, exist_ok=True)
    for name in args.only or MODELS:
        spec = MODELS[name](os.path.abspath(args.shared))
        if spec is not None:
            write_golden(spec, [os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])


if __name__ == "__main__":
    main()
