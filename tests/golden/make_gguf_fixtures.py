#!/usr/bin/env python3
"""GGUF fixtures of the two shared test models, written with the PyPI `gguf` package's GGUFWriter,
independent of lowbit's code, the way llama.cpp's own converters write them:

  tests/golden/gguf/stories260k.gguf
      ../shared/models/stories260K-llama2c/stories260K.bin + tok512.bin, following llama.cpp's
      examples/convert-llama2c-to-ggml (save_as_llama_model, load_vocab for a llama2.c vocab):
      architecture llama, all tensors F32 under GGUF names, wq/wk copied as they are (llama2.c
      keeps Meta's interleaved RoPE pairs, which is the GGUF layout), output.weight = a copy of
      the shared classifier (the token embedding), context 512, rms eps 1e-5, rope dimension
      count = head size. Vocabulary "llama": the llama2.c byte strings with ' ' escaped to '▁',
      ids 0/1/2 renamed <unk>/<s>/</s> (UNKNOWN/CONTROL/CONTROL), <0xNN> pieces BYTE, the rest
      NORMAL, scores as stored; bos 1, eos 2, unk 0. llama.cpp adds BOS for a "llama" vocab.

  tests/golden/gguf/tinystories-656k.gguf
      ../shared/models/tinystories-656k-hf, following convert_hf_to_gguf.py for LlamaForCausalLM:
      q/k permuted from HF rotate-half to interleaved pairs (LlamaModel.permute), 2-D weights
      BF16 (the stored F32 values are bf16-exact, so this is lossless), norms F32, tied
      embeddings written as token_embd only (the checkpoint stores just lm_head.weight).
      Vocabulary "llama" as gguf-py's LlamaHfVocab lays it out (tokens with '▁', CONTROL for
      the special ids), except for the scores: LlamaHfVocab writes -1000 for every token, which
      makes llama.cpp's SentencePiece merge loop merge leftmost-first; here a token made by BPE
      merge number r scores -r (the first merge that makes it), so llama.cpp merges in the
      tokenizer's rank order. The vocabulary has no <0xNN> pieces: HF maps a character outside it
      to <unk>, while llama.cpp's byte fallback throws std::out_of_range (byte_to_token) and aborts, so
      llama.cpp can only tokenize text made of the vocabulary's characters (the perplexity
      golden reads the TinyStories text up to the first other one; make_llamacpp_ppl.py).

Checks after writing (skipped with --no-check), all through llama.cpp (llama-cpp-python):
  - both files load, and their logits for the 16-token prompts of tests/golden/logits/ agree
    with HF transformers (float64) to 1e-4 of the row's max |logit| (F32 KV cache, no flash
    attention). For the BF16 file ggml rounds the activations to bf16 in every matmul, which
    costs a few 1e-3 (bound 1e-2); an F32 copy of it must meet 1e-4 (so the layout is right);
  - stories260k: llama.cpp's tokenization of the first 50 KB of the TinyStories validation text
    equals llama2.c's encode() (the reference encoder for tok512.bin, reimplemented below);
  - tinystories-656k: llama.cpp's tokenization equals HF tokenizers' on the first 50 KB and on
    the first 362,473 bytes (everything before the first character outside the vocabulary).
    With LlamaHfVocab's -1000 scores it would not: 91,086 tokens against HF's 85,961 there.

usage: python3 tests/golden/make_gguf_fixtures.py [--shared ../shared] [--no-check]
"""
import argparse
import json
import os
import sys

import numpy as np
import gguf

from golden_common import DEFAULT_SHARED, ROOT, llama2c_encode, permute, read_llama2c, read_llama2c_vocab

OUT_DIR = os.path.join(ROOT, "tests", "golden", "gguf")
TEXT = "data/tinystories/tinystories_validation_head.txt"


# ---- stories260K (llama2.c legacy; read_llama2c, read_llama2c_vocab: golden_common) ----

def stories260k_vocab(entries):
    """convert-llama2c-to-ggml load_vocab() for a llama2.c tokenizer.bin."""
    tokens, scores, types = [], [], []
    for i, (text, score) in enumerate(entries):
        if i == 0:
            text, ty = b"<unk>", gguf.TokenType.UNKNOWN
        elif i == 1:
            text, ty = b"<s>", gguf.TokenType.CONTROL
        elif i == 2:
            text, ty = b"</s>", gguf.TokenType.CONTROL
        elif len(text) == 0:
            ty = gguf.TokenType.CONTROL
        elif len(text) == 6 and text.startswith(b"<0x") and text.endswith(b">"):
            ty = gguf.TokenType.BYTE
        else:
            ty = gguf.TokenType.NORMAL
        tokens.append(text.replace(b" ", "\u2581".encode()))
        scores.append(score)
        types.append(ty)
    return tokens, scores, types


def write_stories260k(shared, out):
    d = os.path.join(shared, "models", "stories260K-llama2c")
    hp, w = read_llama2c(os.path.join(d, "stories260K.bin"))
    tokens, scores, types = stories260k_vocab(read_llama2c_vocab(os.path.join(d, "tok512.bin"), hp["vocab"]))
    wr = gguf.GGUFWriter(out, "llama")
    wr.add_name("llama")
    wr.add_context_length(hp["seq_len"])
    wr.add_embedding_length(hp["dim"])
    wr.add_feed_forward_length(hp["hidden"])
    wr.add_head_count(hp["n_head"])
    wr.add_head_count_kv(hp["n_kv"])
    wr.add_block_count(hp["n_layer"])
    wr.add_rope_dimension_count(hp["dim"] // hp["n_head"])
    wr.add_layer_norm_rms_eps(1e-5)
    wr.add_file_type(gguf.LlamaFileType.ALL_F32)
    wr.add_tokenizer_model("llama")
    wr.add_token_list(tokens)
    wr.add_token_scores(scores)
    wr.add_token_types(types)
    wr.add_unk_token_id(0)
    wr.add_bos_token_id(1)
    wr.add_eos_token_id(2)
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)
    wr.add_tensor("token_embd.weight", f32(w["emb"]))
    wr.add_tensor("output_norm.weight", f32(w["rms_final"]))
    wr.add_tensor("output.weight", f32(w["wcls"]))
    for i in range(hp["n_layer"]):
        for name, key in (("attn_q", "wq"), ("attn_k", "wk"), ("attn_v", "wv"), ("attn_output", "wo"),
                          ("attn_norm", "rms_att"), ("ffn_gate", "w1"), ("ffn_down", "w2"), ("ffn_up", "w3"),
                          ("ffn_norm", "rms_ffn")):
            wr.add_tensor(f"blk.{i}.{name}.weight", f32(w[key][i]))
    finish(wr)


# ---- TinyStories-656K (Hugging Face LlamaForCausalLM; permute: golden_common) ----

def to_bf16(a):
    """f32 -> bf16 bits; the values must be bf16-exact (checked), so no rounding happens."""
    bits = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    assert not (bits & 0xFFFF).any(), "tensor is not bf16-exact"
    return (bits >> 16).astype(np.uint16)


def tinystories_vocab(tok_json):
    m = tok_json["model"]
    vocab = m["vocab"]
    n = len(vocab)
    rev = [None] * n
    for k, i in vocab.items():
        rev[i] = k
    special = {a["id"] for a in tok_json["added_tokens"] if a.get("special")}
    scores = [0.0] * n
    for r, mg in enumerate(m["merges"]):
        a, b = mg.split(" ", 1) if isinstance(mg, str) else mg
        t = vocab.get(a + b)
        if t is not None and scores[t] == 0.0:
            scores[t] = -float(r + 1)  # first merge that makes the token wins, as BPE would
    types = [gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL for i in range(n)]
    return [t.encode() for t in rev], scores, types


def write_tinystories(shared, out, bf16=True):
    from safetensors.numpy import load_file
    d = os.path.join(shared, "models", "tinystories-656k-hf")
    cfg = json.load(open(os.path.join(d, "config.json")))
    tcfg = json.load(open(os.path.join(d, "tokenizer_config.json")))
    tok_json = json.load(open(os.path.join(d, "tokenizer.json"), encoding="utf-8"))
    st = load_file(os.path.join(d, "model.safetensors"))
    n_head, n_kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    head_dim = cfg["hidden_size"] // n_head
    tokens, scores, types = tinystories_vocab(tok_json)
    assert len(tokens) == cfg["vocab_size"]

    wr = gguf.GGUFWriter(out, "llama")
    wr.add_name("TinyStories-656K")
    wr.add_block_count(cfg["num_hidden_layers"])
    wr.add_context_length(cfg["max_position_embeddings"])
    wr.add_embedding_length(cfg["hidden_size"])
    wr.add_feed_forward_length(cfg["intermediate_size"])
    wr.add_head_count(n_head)
    wr.add_head_count_kv(n_kv)
    wr.add_rope_freq_base(cfg["rope_theta"])
    wr.add_layer_norm_rms_eps(cfg["rms_norm_eps"])
    wr.add_file_type(gguf.LlamaFileType.MOSTLY_BF16)
    wr.add_vocab_size(cfg["vocab_size"])
    wr.add_rope_dimension_count(head_dim)
    wr.add_tokenizer_model("llama")
    wr.add_tokenizer_pre("default")
    wr.add_token_list(tokens)
    wr.add_token_scores(scores)
    wr.add_token_types(types)
    wr.add_bos_token_id(cfg["bos_token_id"])
    wr.add_eos_token_id(cfg["eos_token_id"])
    wr.add_unk_token_id(0)
    wr.add_pad_token_id(0)
    wr.add_add_bos_token(bool(tcfg.get("add_bos_token", True)))
    wr.add_add_eos_token(bool(tcfg.get("add_eos_token", False)))

    names = {"input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm",
             "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down"}

    def add(name, a):
        if a.ndim == 1 or not bf16:
            wr.add_tensor(name, np.ascontiguousarray(a, dtype=np.float32))
        else:
            wr.add_tensor(name, to_bf16(a), raw_shape=a.shape, raw_dtype=gguf.GGMLQuantizationType.BF16)

    emb = st.get("model.embed_tokens.weight", st["lm_head.weight"])
    add("token_embd.weight", emb)
    add("output_norm.weight", st["model.norm.weight"])
    if not cfg.get("tie_word_embeddings", False):
        add("output.weight", st["lm_head.weight"])
    for i in range(cfg["num_hidden_layers"]):
        for hf, gg in names.items():
            a = st[f"model.layers.{i}.{hf}.weight"]
            if hf == "self_attn.q_proj":
                a = permute(a, n_head, n_head)
            elif hf == "self_attn.k_proj":
                a = permute(a, n_head, n_kv)
            add(f"blk.{i}.{gg}.weight", a)
    finish(wr)


def finish(wr):
    wr.write_header_to_file()
    wr.write_kv_data_to_file()
    wr.write_tensors_to_file()
    wr.close()


# ---- checks against llama.cpp (llama2c_encode: golden_common) ----

def llama_logits(llama_cpp, path, ids):
    """llama.cpp's logits for every position, F32 KV cache and no flash attention (so that only
    the weights' own arithmetic differs from an exact forward pass)."""
    llm = llama_cpp.Llama(model_path=path, n_ctx=64, n_batch=64, n_ubatch=64, logits_all=True, n_threads=2,
                          type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32, flash_attn=False,
                          verbose=False)
    llm.eval(ids)
    out = np.array(llm.scores[:len(ids)], dtype=np.float64)
    return llm, out


def check(shared):
    """Logits tolerance: 1e-4 of the row's max |logit| against HF transformers (float64) for F32
    weights. For BF16 weights ggml rounds the activations to bf16 before each matmul (BF16's
    vec_dot_type), which moves the logits by a few 1e-3; there the bound is 1e-2, and an F32
    copy of the same fixture (same values, same layout) must meet 1e-4."""
    import tempfile
    import llama_cpp
    ok = True
    text = open(os.path.join(shared, TEXT), "rb").read()[:50000].decode("utf-8", errors="ignore")
    for name, tol in (("stories260k", 1e-4), ("tinystories-656k", 1e-2)):
        path = os.path.join(OUT_DIR, name + ".gguf")
        gold = json.load(open(os.path.join(ROOT, "tests", "golden", "logits", name + ".json")))
        ids = gold["prompt_ids"]
        want = np.fromfile(os.path.join(ROOT, "tests", "golden", "logits", name + ".bin"), dtype="<f4")
        want = want.reshape(len(ids), -1)
        scale = np.abs(want).max(axis=1, keepdims=True)
        llm, got = llama_logits(llama_cpp, path, ids)
        rel = float((np.abs(got - want) / scale).max())
        print(f"{name}: llama.cpp logits vs HF transformers (float64): max |diff| / row absmax = {rel:.2e} (bound {tol:g})")
        ok &= rel <= tol
        if name == "stories260k":
            entries = read_llama2c_vocab(os.path.join(shared, "models", "stories260K-llama2c", "tok512.bin"), 512)
            ref = [1] + llama2c_encode(entries, text)
            got_ids = llm.tokenize(text.encode(), add_bos=True, special=False)
            same = got_ids == ref
            print(f"{name}: llama.cpp vs llama2.c encode() on the first 50 KB: {len(got_ids)} vs {len(ref)} tokens, "
                  f"{'identical' if same else 'DIFFERENT'}")
            ok &= same
        else:
            del llm
            with tempfile.TemporaryDirectory() as tmp:
                f32 = os.path.join(tmp, "f32.gguf")
                write_tinystories(shared, f32, bf16=False)
                llm, got = llama_logits(llama_cpp, f32, ids)
            rel = float((np.abs(got - want) / scale).max())
            print(f"{name}: the same fixture in F32: max |diff| / row absmax = {rel:.2e} (bound 1e-4)")
            ok &= rel <= 1e-4
            from tokenizers import Tokenizer
            hf = Tokenizer.from_file(os.path.join(shared, "models", "tinystories-656k-hf", "tokenizer.json"))
            # up to the first character outside the vocabulary (see make_llamacpp_ppl.py)
            for label, t in (("the first 50 KB", text), ("the first 362,473 bytes", open(
                    os.path.join(shared, TEXT), "rb").read()[:362473].decode())):
                a, b = llm.tokenize(t.encode(), add_bos=True, special=False), hf.encode(t).ids
                print(f"{name}: llama.cpp vs HF tokenizers on {label}: {len(a)} vs {len(b)} tokens, "
                      f"{'identical' if a == b else 'DIFFERENT'}")
                ok &= a == b
        del llm
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=DEFAULT_SHARED)
    ap.add_argument("--no-check", action="store_true")
    a = ap.parse_args()
    os.makedirs(OUT_DIR, exist_ok=True)
    for name, fn in (("stories260k", write_stories260k), ("tinystories-656k", write_tinystories)):
        out = os.path.join(OUT_DIR, name + ".gguf")
        fn(a.shared, out)
        size = os.path.getsize(out)
        print(f"wrote {os.path.relpath(out, ROOT)} ({size} bytes)")
        assert size < 2 << 20
    if not a.no_check and not check(a.shared):
        sys.exit("check FAILED")


if __name__ == "__main__":
    main()
