#!/usr/bin/env python3
"""Small randomly initialized Llama-family models that cover what the real test models do not,
with golden logits from Hugging Face transformers (float64, eager attention), for
tests/model/test_synthetic_logits.c.

The real models in ../shared/models are plain llama, tied embeddings, no rope scaling, F32. These
fixtures are not trained (random weights, fixed seeds), but every code path a real checkpoint of
the same kind takes is taken:

  synth-qwen2/        Qwen2ForCausalLM: GQA 6/2 heads, q/k/v biases (nonzero), untied lm_head,
                      F16 safetensors, rope_theta 1e6
  synth-qwen2.gguf    the same weights as GGUF arch "qwen2" written by the gguf package's
                      GGUFWriter: q/k NOT permuted (llama.cpp runs qwen2 with NEOX rotate-half),
                      biases as blk.N.attn_{q,k,v}.bias; 2-D weights F16 (what convert_hf_to_gguf's
                      default --outtype f16 writes; the values are the checkpoint's own F16), 1-D F32
  synth-llama3/       LlamaForCausalLM: rope_scaling llama3 (factor 8, low 1, high 4, original ctx 64),
                      head_dim 32 (hidden 32 / 4 heads would give 8), GQA 4/2, tied embeddings, BF16
                      safetensors in 3 shards (model.safetensors.index.json)
  synth-llama3.gguf   the same weights as GGUF arch "llama", F32: q/k permuted to Meta's interleaved
                      pairs exactly like convert_hf_to_gguf.py LlamaModel.permute, and llama3 scaling
                      as a rope_freqs.weight tensor of per-pair divisors, computed as
                      convert_hf_to_gguf.py LlamaModel.generate_extra_tensors does
  synth-mistral/      MistralForCausalLM: rope_scaling linear factor 2, tied embeddings, MHA, F32

Each HF directory gets tinystories-656k's tokenizer (tokenizer.json, tokenizer_config.json,
special_tokens_map.json; vocab 2048, BOS 1, EOS 2); the GGUFs get its pieces as a "llama" vocab.

How transformers 5.x writes rope settings: config.json has "rope_parameters" {rope_type, rope_theta,
factor, ...} and neither "rope_theta" nor "rope_scaling" at top level (our config.c reads both).

Golden data, tests/golden/models/golden/<name>.json + <name>.bin (format of
tests/golden/make_logits_golden.py, plus "sources": the files that must reproduce it and the
lb_model_describe fields each must report):
  prompt_ids          the tokenizer's ids (BOS first) of PROMPT: 16 tokens; for synth-llama3 96 tokens
                      of LONG_PROMPT (which starts with the same 16), so positions run past the
                      original context of 64 where llama3 scaling changes every low-frequency pair
  rows[n_tokens]      per position: argmax, top-20 [id, logit], logsumexp, absmax
  full_rows_first     the .bin holds logits[full_rows_first:][n_vocab] as little-endian f32
                      (all 16 rows; for synth-llama3 the last 16 rows, positions 80..95)
  greedy              10 greedy tokens (full forward pass each step), stopping before EOS; the
                      seeds are chosen so that every top-1/top-2 margin is over 10x what the
                      logits criterion allows an implementation to move it

The golden model is the saved directory loaded back with from_pretrained(dtype=float64), so the
golden describes the bytes on disk (F16/BF16 rounding included). Checks done here, independently
of lowbit:
  * every GGUF is read back with gguf.GGUFReader and run through a float64 numpy forward pass
    (interleaved pairs for llama, rotate-half for qwen2, divisors from rope_freqs.weight) that must
    match the transformers logits to 1e-5 relative;
  * sensitivity: the golden differs from the same weights with the feature switched off (no llama3
    scaling / no linear scaling / no biases / unpermuted q,k in the GGUF / rotate-half on the
    permuted GGUF) by far more than the test's 1e-4 tolerance, so each feature is really tested.

Precision note (as in make_logits_golden.py): HF's RMSNorm normalizes in float32 and the RoPE tables
are float32, so the reference is float32-accurate (about 1e-6 relative).

Usage (from the repository root):
  python3 tests/golden/make_synthetic_models.py [--shared ../shared]
"""
import datetime
import glob
import json
import math
import os
import platform
import shutil
import sys

import numpy as np
import torch

import gguf
import transformers
from transformers import (AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, MistralConfig,
                          MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM)

from golden_common import PROMPT, ROOT, gguf_version, greedy, logits_of, parse_args, permute, sha256, summarize_rows

LONG_PROMPT = PROMPT + (" She wanted to play with the ball, but it was too high. She asked her mom for help. "
                        "Her mom smiled and said, \"Let's get a stick.\" They found a long stick and pushed the "
                        "ball down. Lily was very happy. She played with the ball all day with her friend Tom. "
                        "At night, she put the ball next to her bed and went to sleep with a big smile. The next "
                        "morning, the sun was bright and the birds were singing. Lily ran outside to find Tom again.")
N_TOKENS = 16
N_LONG = 96
N_TOP = 20
N_GREEDY = 10
REL_TOL = 1e-4  # the C test's criterion: |got - want| <= REL_TOL * max |want| of the row
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")

OUT_DIR = os.path.join(ROOT, "tests", "golden", "models")
GOLDEN_DIR = os.path.join(OUT_DIR, "golden")


# ---- random weights ----

def randomize(model, seed, emb_std):
    """Weights that give O(1-10) logits and attention that is far from uniform: unit-RMS inputs to
    every linear (RMSNorm), so W ~ N(0, gain^2 / fan_in) gives outputs of std ~gain; q and k get
    gain 1.5 (scores q.k/sqrt(d) of std ~2), norms 1 +- 0.2, biases N(0, 0.5^2), embeddings emb_std
    (logit std ~ emb_std * sqrt(n_embd))."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if name.endswith("norm.weight"):
                v = 1 + 0.2 * r
            elif name.endswith(".bias"):
                v = 0.5 * r
            elif "embed_tokens" in name or "lm_head" in name:
                v = emb_std * r
            else:
                gain = 1.5 if ("q_proj" in name or "k_proj" in name) else 1.0
                v = gain * r / math.sqrt(p.shape[1])
            p.copy_(v.to(p.dtype))


def copy_tokenizer(shared, d):
    src = os.path.join(shared, "models", "tinystories-656k-hf")
    for f in TOKENIZER_FILES:
        shutil.copyfile(os.path.join(src, f), os.path.join(d, f))


def save_hf(model, d, dtype, shared, **kw):
    if os.path.isdir(d):
        shutil.rmtree(d)
    model.to(dtype).save_pretrained(d, **kw)
    copy_tokenizer(shared, d)
    # generation_config.json is not needed by anyone here; keep the fixture minimal
    gc = os.path.join(d, "generation_config.json")
    if os.path.exists(gc):
        os.remove(gc)


def load_f64(d, cls):
    m = cls.from_pretrained(d, dtype=torch.float64, attn_implementation="eager").eval()
    return m


def make_hf(name, model_cls, cfg, seed, dtype, shared, **save_kw):
    """A model_cls of cfg with random weights (randomize: seed), saved as tests/golden/models/<name>
    in dtype and loaded back in float64, so the golden describes the bytes on disk. Returns
    (directory, float64 model)."""
    torch.manual_seed(0)
    model = model_cls(cfg)
    randomize(model, seed=seed, emb_std=0.5)
    d = os.path.join(OUT_DIR, name)
    save_hf(model, d, dtype, shared, **save_kw)
    return d, load_f64(d, model_cls)


def variant(ref, model_cls, config_cls, rope_parameters):
    """ref's weights under other rope parameters (float64, eager), for the sensitivity checks."""
    cfg = config_cls(**{**ref.config.to_dict(), "rope_parameters": rope_parameters})
    cfg._attn_implementation = "eager"
    m = model_cls(cfg).to(torch.float64).eval()
    m.load_state_dict(ref.state_dict(), strict=False)
    m.tie_weights()
    return m


def rel_diff(a, b):
    """max over rows of max|a-b| / max|b| (the C test's per-row criterion)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float((np.abs(a - b).max(-1) / np.abs(b).max(-1)).max())


# ---- GGUF: llama.cpp's converter conventions (permute: golden_common) ----

def llama3_rope_factors(base, dim, factor, low_freq_factor, high_freq_factor, old_context_len):
    """convert_hf_to_gguf.py LlamaModel.generate_extra_tensors (llama3): per-pair divisors of the
    frequencies, float32. The converter takes old_context_len from the top-level config key
    original_max_position_embeddings (default 8192), not from rope_scaling; here it is the
    model's own value, 64, as the HF model uses it."""
    freqs = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    low_freq_wavelen = old_context_len / low_freq_factor
    high_freq_wavelen = old_context_len / high_freq_factor
    assert low_freq_wavelen != high_freq_wavelen
    rope_factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_freq_wavelen:
            rope_factors.append(1)
        elif wavelen > low_freq_wavelen:
            rope_factors.append(factor)
        else:
            smooth = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            rope_factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.array([float(x) for x in rope_factors], dtype=np.float32)


HF_TO_GGUF = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
HF_TO_GGUF_BLOCK = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}


def gguf_name(hf):
    if hf in HF_TO_GGUF:
        return HF_TO_GGUF[hf]
    parts = hf.split(".")  # model.layers.N.rest
    assert parts[0] == "model" and parts[1] == "layers", hf
    return f"blk.{parts[2]}.{HF_TO_GGUF_BLOCK['.'.join(parts[3:])]}"


def write_vocab(w, shared):
    """tinystories-656k's tokenizer.json pieces as a "llama" (SentencePiece) vocab; scores by rank."""
    with open(os.path.join(shared, "models", "tinystories-656k-hf", "tokenizer.json")) as f:
        tj = json.load(f)
    vocab = tj["model"]["vocab"]
    pieces = [None] * len(vocab)
    for p, i in vocab.items():
        pieces[i] = p
    assert all(p is not None for p in pieces)
    types = []
    for i, p in enumerate(pieces):
        if i == 0:
            types.append(gguf.TokenType.UNKNOWN)
        elif i in (1, 2):
            types.append(gguf.TokenType.CONTROL)
        elif len(p) == 6 and p.startswith("<0x") and p.endswith(">"):
            types.append(gguf.TokenType.BYTE)
        else:
            types.append(gguf.TokenType.NORMAL)
    w.add_tokenizer_model("llama")
    w.add_token_list(pieces)
    w.add_token_scores([-float(i) for i in range(len(pieces))])
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_pad_token_id(0)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    return len(pieces)


def write_gguf(path, arch, cfg, sd, shared, permute_qk, rope_freqs, matrix_dtype):
    """sd: HF state dict (float tensors). The GGUF gets llama.cpp's names and hyper-parameter keys."""
    head_dim = head_dim_of(cfg)
    w = gguf.GGUFWriter(path, arch)
    w.add_name(os.path.basename(path))
    w.add_block_count(cfg.num_hidden_layers)
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(float(cfg.rope_parameters["rope_theta"]))
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_vocab_size(cfg.vocab_size)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if matrix_dtype == np.float16 else gguf.LlamaFileType.ALL_F32)
    n_vocab = write_vocab(w, shared)
    assert n_vocab == cfg.vocab_size
    for name, t in sd.items():
        a = t.to(torch.float64).numpy()
        if permute_qk and name.endswith(("q_proj.weight", "q_proj.bias")):
            a = permute(a, cfg.num_attention_heads, cfg.num_attention_heads)
        if permute_qk and name.endswith(("k_proj.weight", "k_proj.bias")):
            a = permute(a, cfg.num_attention_heads, cfg.num_key_value_heads)
        a = a.astype(matrix_dtype if a.ndim == 2 else np.float32)
        w.add_tensor(gguf_name(name), np.ascontiguousarray(a))
    if rope_freqs is not None:
        w.add_tensor("rope_freqs.weight", rope_freqs)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


# ---- independent float64 forward pass over a GGUF (numpy, llama.cpp semantics) ----

def gguf_forward(path, ids, interleaved=None):
    """Reads the GGUF with gguf.GGUFReader and runs the Llama block in float64: RMSNorm, q/k/v (+bias),
    RoPE on pairs (2i, 2i+1) for arch llama or (i, i + d/2) for qwen2 with theta^(-2i/d) / rope_freqs[i],
    causal softmax attention with grouped kv heads, SwiGLU, tied or separate output."""
    r = gguf.GGUFReader(path)

    def kv(key):
        f = r.fields[key]
        v = f.parts[f.data[0]]
        return v.tobytes().decode() if f.types[0] == gguf.GGUFValueType.STRING else v[0].item()

    arch = kv("general.architecture")
    T = {t.name: np.asarray(t.data, dtype=np.float64).reshape([int(x) for x in reversed(t.shape)]) for t in r.tensors}
    E, L = kv(f"{arch}.embedding_length"), kv(f"{arch}.block_count")
    nh, nkv, hd = kv(f"{arch}.attention.head_count"), kv(f"{arch}.attention.head_count_kv"), kv(f"{arch}.attention.key_length")
    eps, theta = kv(f"{arch}.attention.layer_norm_rms_epsilon"), kv(f"{arch}.rope.freq_base")
    if interleaved is None:
        interleaved = arch == "llama"
    inv = theta ** (-np.arange(0, hd, 2) / hd)
    if "rope_freqs.weight" in T:
        inv = inv / T["rope_freqs.weight"]
    n = len(ids)
    pos = np.arange(n)[:, None]
    ang = pos * inv[None, :]  # [n][hd/2]
    cs, sn = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]

    def rmsnorm(x, g):
        return g * x / np.sqrt((x * x).mean(-1, keepdims=True) + eps)

    def rope(x, heads):
        x = x.reshape(n, heads, hd).copy()
        if interleaved:
            a, b = x[..., 0::2].copy(), x[..., 1::2].copy()
            x[..., 0::2], x[..., 1::2] = a * cs - b * sn, a * sn + b * cs
        else:
            a, b = x[..., :hd // 2].copy(), x[..., hd // 2:].copy()
            x[..., :hd // 2], x[..., hd // 2:] = a * cs - b * sn, a * sn + b * cs
        return x

    x = T["token_embd.weight"][ids]
    mask = np.triu(np.full((n, n), -np.inf), 1)
    for l in range(L):
        p = f"blk.{l}."
        xn = rmsnorm(x, T[p + "attn_norm.weight"])
        q, k, v = (xn @ T[p + f"attn_{c}.weight"].T + T.get(p + f"attn_{c}.bias", 0.0) for c in "qkv")
        q, k, v = rope(q, nh), rope(k, nkv), v.reshape(n, nkv, hd)
        att = np.zeros((n, nh, hd))
        for h in range(nh):
            kh = h // (nh // nkv)
            sc = q[:, h] @ k[:, kh].T / np.sqrt(hd) + mask
            pr = np.exp(sc - sc.max(-1, keepdims=True))
            att[:, h] = (pr / pr.sum(-1, keepdims=True)) @ v[:, kh]
        x = x + att.reshape(n, nh * hd) @ T[p + "attn_output.weight"].T
        xn = rmsnorm(x, T[p + "ffn_norm.weight"])
        g = xn @ T[p + "ffn_gate.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * (xn @ T[p + "ffn_up.weight"].T)) @ T[p + "ffn_down.weight"].T
    out = T.get("output.weight", T["token_embd.weight"])
    return rmsnorm(x, T["output_norm.weight"]) @ out.T


# ---- the fixtures ----

def head_dim_of(cfg):
    return getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads


def expected_desc(cfg, fmt, arch, scaling, factor, interleaved, tied, qkv_bias):
    """lb_model_describe fields the file must report, derived from the config."""
    return dict(format=fmt, arch=arch, n_vocab=cfg.vocab_size, n_embd=cfg.hidden_size, n_ff=cfg.intermediate_size,
                n_layer=cfg.num_hidden_layers, n_head=cfg.num_attention_heads, n_head_kv=cfg.num_key_value_heads,
                head_dim=head_dim_of(cfg), n_ctx_train=cfg.max_position_embeddings, norm_eps=cfg.rms_norm_eps,
                rope_theta=float(cfg.rope_parameters["rope_theta"]), rope_scaling=scaling, rope_factor=factor,
                rope_interleaved=interleaved, tied_embeddings=tied, qkv_bias=qkv_bias, bos_id=1, eos_id=2,
                add_bos=True)


def model_qwen2(shared, tok):
    cfg = Qwen2Config(vocab_size=2048, hidden_size=48, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=6, num_key_value_heads=2, max_position_embeddings=512,
                      rms_norm_eps=1e-6, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                      tie_word_embeddings=False, bos_token_id=1, eos_token_id=2, use_sliding_window=False)
    d, ref = make_hf("synth-qwen2", Qwen2ForCausalLM, cfg, 101, torch.float16, shared)
    cfg = ref.config
    assert head_dim_of(cfg) == 8 and bool(ref.model.layers[0].self_attn.q_proj.bias.ne(0).all())
    ids = tok(PROMPT)["input_ids"][:N_TOKENS]
    want = logits_of(ref, ids).numpy()

    # sensitivity: the same weights without q/k/v biases
    nob = load_f64(d, Qwen2ForCausalLM)
    with torch.no_grad():
        for lay in nob.model.layers:
            for lin in (lay.self_attn.q_proj, lay.self_attn.k_proj, lay.self_attn.v_proj):
                lin.bias.zero_()
    sens = {"without q/k/v biases": rel_diff(logits_of(nob, ids).numpy(), want)}

    g = os.path.join(OUT_DIR, "synth-qwen2.gguf")
    sd = {k: v for k, v in ref.state_dict().items() if "rotary" not in k}
    write_gguf(g, "qwen2", cfg, sd, shared, permute_qk=False, rope_freqs=None, matrix_dtype=np.float16)
    check = {"synth-qwen2.gguf numpy forward (rotate-half)": rel_diff(gguf_forward(g, ids), want)}
    sens["synth-qwen2.gguf run with interleaved pairs"] = rel_diff(gguf_forward(g, ids, interleaved=True), want)
    desc = dict(tied=False, qkv_bias=True, scaling="none", factor=1.0)
    return dict(name="synth-qwen2", model=ref, ids=ids, want=want, sens=sens, check=check, full_rows_first=0,
                sources=[dict(path="tests/golden/models/synth-qwen2",
                              expect=expected_desc(cfg, "hf-dir", "qwen2", "none", 1.0, False, False, True)),
                         dict(path="tests/golden/models/synth-qwen2.gguf",
                              expect=expected_desc(cfg, "gguf", "qwen2", "none", 1.0, False, False, True))],
                notes="Qwen2 GQA 6/2, head_dim 8, q/k/v biases N(0,0.25), untied lm_head, F16; GGUF: qwen2, "
                      "NEOX (no permutation), 2-D F16 / 1-D F32")


LLAMA3_ROPE = {"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 64}


def llama3_bands(cfg):
    """How many rotary pairs fall in each llama3 band: kept (wavelength < orig/high), blended,
    divided by factor (wavelength > orig/low)."""
    rp = cfg.rope_parameters
    hd = cfg.head_dim
    wl = 2 * math.pi * rp["rope_theta"] ** (np.arange(0, hd, 2) / hd)
    orig = rp["original_max_position_embeddings"]
    hi, lo = orig / rp["high_freq_factor"], orig / rp["low_freq_factor"]
    return int((wl < hi).sum()), int(((wl >= hi) & (wl <= lo)).sum()), int((wl > lo).sum())


def model_llama3(shared, tok):
    cfg = LlamaConfig(vocab_size=2048, hidden_size=32, intermediate_size=96, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=512,
                      rms_norm_eps=1e-5, rope_parameters=dict(LLAMA3_ROPE), tie_word_embeddings=True,
                      bos_token_id=1, eos_token_id=2, attention_bias=False, mlp_bias=False)
    d, ref = make_hf("synth-llama3", LlamaForCausalLM, cfg, 204, torch.bfloat16, shared, max_shard_size="50KB")
    shards = sorted(glob.glob(os.path.join(d, "model-*.safetensors")))
    assert os.path.exists(os.path.join(d, "model.safetensors.index.json")) and 2 <= len(shards) <= 3, shards
    cfg = ref.config
    bands = llama3_bands(cfg)
    assert cfg.head_dim == 32 != cfg.hidden_size // cfg.num_attention_heads and min(bands) >= 2, bands
    ids = tok(LONG_PROMPT)["input_ids"][:N_LONG]
    assert len(ids) == N_LONG and ids[:N_TOKENS] == tok(PROMPT)["input_ids"][:N_TOKENS]
    want = logits_of(ref, ids).numpy()

    # sensitivity: no scaling at all, and plain linear scaling by the same factor
    sens = {}
    for label, rp in (("without rope scaling", {"rope_type": "default", "rope_theta": 10000.0}),
                      ("linear factor 8 instead of llama3", {"rope_type": "linear", "rope_theta": 10000.0,
                                                            "factor": 8.0})):
        got = logits_of(variant(ref, LlamaForCausalLM, LlamaConfig, rp), ids).numpy()
        sens[label] = rel_diff(got, want)
        sens[label + ", positions >= 64 only"] = rel_diff(got[64:], want[64:])

    g = os.path.join(OUT_DIR, "synth-llama3.gguf")
    rp = cfg.rope_parameters
    factors = llama3_rope_factors(rp["rope_theta"], cfg.head_dim, rp["factor"], rp["low_freq_factor"],
                                  rp["high_freq_factor"], rp["original_max_position_embeddings"])
    sd = {k: v for k, v in ref.state_dict().items() if "rotary" not in k and k != "lm_head.weight"}
    write_gguf(g, "llama", cfg, sd, shared, permute_qk=True, rope_freqs=factors, matrix_dtype=np.float32)
    check = {"synth-llama3.gguf numpy forward (interleaved, rope_freqs)": rel_diff(gguf_forward(g, ids), want)}
    sens["synth-llama3.gguf run with rotate-half pairs (permutation ignored)"] = rel_diff(
        gguf_forward(g, ids, interleaved=False), want)
    gn = os.path.join(OUT_DIR, ".unpermuted.gguf")
    write_gguf(gn, "llama", cfg, sd, shared, permute_qk=False, rope_freqs=factors, matrix_dtype=np.float32)
    sens["GGUF llama without the q/k permutation"] = rel_diff(gguf_forward(gn, ids), want)
    os.remove(gn)
    return dict(name="synth-llama3", model=ref, ids=ids, want=want, sens=sens, check=check,
                full_rows_first=N_LONG - 16, llama3_bands=dict(zip(("kept", "blended", "divided"), bands)),
                rope_freqs=[float(x) for x in factors],
                sources=[dict(path="tests/golden/models/synth-llama3",
                              expect=expected_desc(cfg, "hf-dir", "llama", "llama3", 8.0, False, True, False)),
                         # the GGUF carries llama3 only as rope_freqs divisors: no factor to report
                         dict(path="tests/golden/models/synth-llama3.gguf",
                              expect={**expected_desc(cfg, "gguf", "llama", "llama3", None, True, True, False)})],
                notes="Llama rope llama3 (factor 8, low 1, high 4, orig ctx 64; pairs kept/blended/divided = "
                      f"{bands}), head_dim 32 with hidden 32 / 4 heads, GQA 4/2, tied, BF16 in "
                      f"{len(shards)} shards; GGUF: llama, q/k permuted, rope_freqs.weight, F32")


def model_mistral(shared, tok):
    cfg = MistralConfig(vocab_size=2048, hidden_size=32, intermediate_size=96, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=4, head_dim=8, max_position_embeddings=256,
                        rms_norm_eps=1e-5, rope_parameters={"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0},
                        tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, sliding_window=None)
    d, ref = make_hf("synth-mistral", MistralForCausalLM, cfg, 303, torch.float32, shared)
    cfg = ref.config
    assert cfg.rope_parameters["rope_type"] == "linear", cfg.rope_parameters
    ids = tok(PROMPT)["input_ids"][:N_TOKENS]
    want = logits_of(ref, ids).numpy()
    m2 = variant(ref, MistralForCausalLM, MistralConfig, {"rope_type": "default", "rope_theta": 10000.0})
    sens = {"without linear scaling": rel_diff(logits_of(m2, ids).numpy(), want)}
    return dict(name="synth-mistral", model=ref, ids=ids, want=want, sens=sens, check={}, full_rows_first=0,
                sources=[dict(path="tests/golden/models/synth-mistral",
                              expect=expected_desc(cfg, "hf-dir", "mistral", "linear", 2.0, False, True, False))],
                notes="Mistral rope linear factor 2, MHA 4 heads, head_dim 8, tied, F32, sliding_window null")


MODELS = {"synth-qwen2": model_qwen2, "synth-llama3": model_llama3, "synth-mistral": model_mistral}


# ---- golden data ----

def write_golden(spec, argv):
    model, ids, want = spec["model"], spec["ids"], spec["want"]
    n, n_vocab = want.shape
    for k, v in spec["check"].items():
        print(f"  check {k}: {v:.3g}")
        assert v < 1e-5, (k, v)
    for k, v in spec["sens"].items():
        print(f"  sensitivity {k}: {v:.3g} (tolerance {REL_TOL:g})")
        assert v > 100 * REL_TOL, (k, v)
    rows = summarize_rows(torch.from_numpy(want), N_TOP)
    gen, margins, stopped = greedy(model, ids, N_GREEDY, eos=2)

    # Seeds are chosen so that greedy decoding is robust: every step's top-1/top-2 margin exceeds
    # 10x what the logits criterion lets an implementation move it (2 * REL_TOL * max |logit|).
    assert not margins or min(margins) > 20 * REL_TOL * float(np.abs(want).max()), (spec["name"], min(margins))
    first = spec["full_rows_first"]
    bin_name = spec["name"] + ".bin"
    bin_path = os.path.join(GOLDEN_DIR, bin_name)
    want[first:].astype("<f4").tofile(bin_path)
    sources = []
    for s in spec["sources"]:
        p = os.path.join(ROOT, s["path"])
        files = sorted(glob.glob(os.path.join(p, "*"))) if os.path.isdir(p) else [p]
        sources.append(dict(s, sha256={os.path.relpath(f, p) if os.path.isdir(p) else os.path.basename(f): sha256(f)
                                       for f in files}))
    doc = dict(
        model=spec["name"], notes=spec["notes"], sources=sources,
        prompt_text=LONG_PROMPT if n > N_TOKENS else PROMPT,
        prompt_tokenizer="transformers AutoTokenizer (tinystories-656k tokenizer.json), BOS first",
        prompt_ids=ids, n_tokens=n, n_vocab=int(n_vocab),
        full_rows_first=first, full_rows_file=bin_name, full_rows_dtype="float32 little-endian",
        full_rows_shape=[n - first, int(n_vocab)], full_rows_sha256=sha256(bin_path),
        rows=rows,
        greedy=dict(n_predict=N_GREEDY, tokens=gen, margins=margins, stopped_at_eos=stopped),
        checks=spec["check"], sensitivity=spec["sens"],
        **({k: spec[k] for k in ("llama3_bands", "rope_freqs") if k in spec}),
        provenance=dict(
            generator="tests/golden/make_synthetic_models.py", command="python3 " + " ".join(argv),
            implementation=f"transformers {type(model).__name__}, eager attention, float64, eval, use_cache=False, "
                           "loaded back from the saved directory",
            python=platform.python_version(), torch=torch.__version__, transformers=transformers.__version__,
            numpy=np.__version__, gguf=gguf_version(), date=datetime.date.today().isoformat()),
    )
    with open(os.path.join(GOLDEN_DIR, spec["name"] + ".json"), "w") as f:
        f.write(dumps(doc))
    absmax = np.abs(want).max(-1)
    print(f"{spec['name']}: {n} tokens, |logit| max per row {absmax.min():.3g}..{absmax.max():.3g}, "
          f"logit std {want.std():.3g}\n  greedy {gen} (min margin {min(margins) if margins else 0:.4g})")


def dumps(doc):
    """JSON with one line per top-level key and per row (the rows dominate the size)."""
    def one(k, v):
        if k == "rows":
            return f' "rows": [\n  ' + ",\n  ".join(json.dumps(r) for r in v) + "\n ]"
        return f" {json.dumps(k)}: {json.dumps(v)}"
    return "{\n" + ",\n".join(one(k, v) for k, v in doc.items()) + "\n}\n"


def main():
    args = parse_args(__doc__, MODELS)
    shared = os.path.abspath(args.shared)
    os.makedirs(GOLDEN_DIR, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(os.path.join(shared, "models", "tinystories-656k-hf"))
    for name in args.only or MODELS:
        spec = MODELS[name](shared, tok)
        write_golden(spec, [os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])
    total = 0
    for f in sorted(glob.glob(os.path.join(OUT_DIR, "**", "*"), recursive=True)):
        if os.path.isfile(f):
            sz = os.path.getsize(f)
            total += sz
            assert sz < 2 << 20, (f, sz)
    print(f"tests/golden/models: {total / 1e6:.2f} MB in all")


if __name__ == "__main__":
    main()
