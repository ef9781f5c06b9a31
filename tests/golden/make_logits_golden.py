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
import datetime
import json
import os
import platform
import sys

import numpy as np
import torch

import transformers
from transformers import AutoConfig, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from golden_common import (PROMPT, ROOT, gguf_version, greedy, llama2c_encode, logits_of, parse_args, read_llama2c,
                           read_llama2c_vocab, sha256, summarize_rows)

N_TOKENS = 16
N_TOP = 20
N_GREEDY = 20

OUT_DIR = os.path.join(ROOT, "tests", "golden", "logits")


# ---- llama2.c legacy checkpoint -> HF LlamaForCausalLM ----

def load_llama2c(path):
    hp, w = read_llama2c(path)
    dim, hidden, n_layers, n_heads, n_kv_heads, vocab, seq_len, shared = (
        hp[k] for k in ("dim", "hidden", "n_layer", "n_head", "n_kv", "vocab", "seq_len", "shared"))
    kv_dim = n_kv_heads * (dim // n_heads)
    w = {k: torch.tensor(a.astype(np.float64)) for k, a in w.items()}
    emb, rms_att, wq, wk, wv, wo = w["emb"], w["rms_att"], w["wq"], w["wk"], w["wv"], w["wo"]
    rms_ffn, w1, w2, w3, rms_final, wcls = w["rms_ffn"], w["w1"], w["w2"], w["w3"], w["rms_final"], w["wcls"]

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
    hp, w = read_llama2c(path)
    dim, n_layers, n_heads, n_kv_heads = hp["dim"], hp["n_layer"], hp["n_head"], hp["n_kv"]
    hs = dim // n_heads
    w = {k: a.astype(np.float64) for k, a in w.items()}
    emb, rms_att, wq, wk, wv, wo = w["emb"], w["rms_att"], w["wq"], w["wk"], w["wv"], w["wo"]
    rms_ffn, w1, w2, w3, rms_final = w["rms_ffn"], w["w1"], w["w2"], w["w3"], w["rms_final"]

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
    entries = read_llama2c_vocab(os.path.join(d, "tok512.bin"), cfg.vocab_size)
    ids = [1] + llama2c_encode(entries, PROMPT)
    model = build(cfg, sd)
    # cross-check the wq/wk permutation: HF rotate-half on permuted weights == llama2.c pairs
    ref = llama2c_numpy_forward(path, ids[:N_TOKENS])
    got = logits_of(model, ids[:N_TOKENS]).numpy()
    err = np.abs(got - ref).max() / np.abs(ref).max()
    print(f"stories260k: HF vs llama2.c-style numpy forward: max |diff| / max |logit| = {err:.3g}")
    assert err < 1e-5, err
    decode = lambda t: b"".join(entries[i][0] for i in t).decode("utf-8", "replace")
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

def write_golden(spec, argv):
    model, ids = spec["model"], spec["ids"][:N_TOKENS]
    assert len(ids) == N_TOKENS, f"{spec['name']}: prompt is only {len(spec['ids'])} tokens"
    logits = logits_of(model, ids)  # [16][n_vocab]
    n_vocab = logits.shape[1]
    rows = summarize_rows(logits, N_TOP)
    gen, margins, stopped_at_eos = greedy(model, ids, N_GREEDY, spec["eos"])

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
            numpy=np.__version__, gguf=gguf_version(),
            date=datetime.date.today().isoformat()),
    )
    with open(os.path.join(OUT_DIR, spec["name"] + ".json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"{spec['name']}: ids {ids}\n  greedy {gen} (min margin {min(margins) if margins else 0:.4g})\n"
          f"  text: {doc['prompt_decoded']!r} -> {doc['greedy']['text']!r}")


def main():
    args = parse_args(__doc__, MODELS)
    torch.manual_seed(0)
    os.makedirs(OUT_DIR, exist_ok=True)
    for name in args.only or MODELS:
        spec = MODELS[name](os.path.abspath(args.shared))
        if spec is not None:
            write_golden(spec, [os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])


if __name__ == "__main__":
    main()
