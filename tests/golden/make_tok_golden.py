#!/usr/bin/env python3
"""Golden token ids for tests/tok/test_tokenizer.c, from independent reference tokenizers.

Oracles (never our own C code):
  tinystories-656k tokenizer.json   HF `tokenizers` (Tokenizer.from_file)
  tiny fixtures (written here)      HF `tokenizers`: byte-level BPE trained with BpeTrainer on a few
                                    KB of shared/data (Llama-3 style Split+ByteLevel with ignore_merges,
                                    GPT-2 style Digits+ByteLevel with a non-special added token), and a
                                    Metaspace + byte-fallback SentencePiece-style BPE, and a hand-made
                                    merge list whose merges create lower-rank pairs (long texts too)
  llama2 tokenizer.model            the `sentencepiece` package (plain text); special tokens in text are
                                    split out first and each span encoded by sentencepiece (Meta's
                                    Llama-2 tokenizer.json "legacy" behaviour); cross-checked against a
                                    HF `tokenizers` BPE built from the model (merges from scores)
  llama2.c tokenizer.bin / tok512   a line-by-line Python transcription of llama2.c run.c encode()
  SmolLM2 GGUF vocab                HF `tokenizers` built from the GGUF tokens/merges with SmolLM2's own
                                    pre-tokenizer (Digits(individual) + ByteLevel); cross-checked against
                                    transformers' GGUF -> fast tokenizer conversion

For each tokenizer and string: "sb" = add_special_tokens + special tokens parsed (our add_bos=true,
parse_special=true), "s" = no added BOS, specials parsed, "p" = no BOS and special tokens treated as
plain text (parse_special=false), "d" = HF decode(sb, skip_special_tokens=False). For whole
wiki.test.raw: number of "p" tokens and FNV-1a 64 of their int32 little-endian bytes.

Usage: python3 tests/golden/make_tok_golden.py [--shared ../shared] [--gguf .cache/models/...gguf]
Writes tests/golden/tok/*.json. Needs: tokenizers, sentencepiece, gguf, transformers (optional).
"""
import argparse
import copy
import heapq
import json
import os
import re
import struct
import sys

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "tok")

STRINGS = [
    "",
    "a",
    "Hello world",
    "Once upon a time",
    "Once upon a time, there was a little girl named Lily. She loved to play outside.",
    " leading space",
    "trailing space ",
    "  two leading spaces",
    "multiple   spaces    inside",
    " ",
    "   ",
    "tab\tseparated\tvalues",
    "\t",
    "line one\nline two",
    "paragraph\n\nnext paragraph",
    "\n",
    "\n\n\n",
    "trailing newline\n",
    "   \n\t  mixed whitespace  \n ",
    "1234567",
    "The year 2024 had 366 days, or 8760 hours; pi is 3.14159.",
    "0 00 000 0000 12345678901234567890",
    "café naïve résumé façade Ünïcödé ÀÉÎÕÜ ß ñ",
    "Ελληνικά και Русский текст",
    "Привет, мир!",
    "مرحبا بالعالم",
    "你好，世界！日本語のテキスト",
    "한국어 문장입니다",
    "emoji 😀🎉👍🏽",
    "👨\u200d👩\u200d👧\u200d👦 family, 🏳\ufe0f\u200d🌈 flag",
    "don't I'm we'll they've she's it'd you're",
    "DON'T I'M WE'LL",
    "def foo(x):\n    return x**2  # square\n",
    "for (int i = 0; i < n; i++) { sum += a[i]; }",
    "symbols !@#$%^&*()_+-=[]{}|;':\",./<>?`~",
    "ヽ(•‿•)ノ ¯\\_(ツ)_/¯",
    "non\u00a0breaking and zero\u200bwidth",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    " = Valkyria Chronicles III = \n",
    "<|im_start|>user\nhi<|im_end|>",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n",
    "<s>",
    "<s>Hello</s>",
    "a<s>b",
    "<unk>",
    "<|start_story|>",
    "<|start_story|>Once upon a time<|end_story|>",
    "hello <|start_story|> world <|end_story|>",
    "x<|endoftext|>y",
    "<|begin_of_text|>Hi <tool> there",
]


def fnv1a_ids(ids):
    h = 0xCBF29CE484222325
    for i in ids:
        for b in struct.pack("<i", i):
            h ^= b
            h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def drop_special_added(tok_json):
    """The same tokenizer with the special added tokens removed: special text becomes plain text."""
    j = json.loads(tok_json)
    j["added_tokens"] = [a for a in j["added_tokens"] if not a["special"]]
    return Tokenizer.from_str(json.dumps(j))


def hf_cases(tok, tok_plain):
    cases = []
    for s in STRINGS:
        sb = tok.encode(s, add_special_tokens=True).ids
        sn = tok.encode(s, add_special_tokens=False).ids
        p = tok_plain.encode(s, add_special_tokens=False).ids
        d = tok.decode(sb, skip_special_tokens=False)
        cases.append({"sb": sb, "s": sn, "p": p, "d": d})
    return cases


def wiki_summary(encode_plain, wiki):
    ids = encode_plain(wiki)
    return {"n": len(ids), "fnv": fnv1a_ids(ids)}


# ---- tiny fixtures trained here ----

def training_text(shared):
    with open(os.path.join(shared, "data/wikitext-2-raw/wiki.train.head1018.raw"), encoding="utf-8") as f:
        a = f.read()[:6000]
    with open(os.path.join(shared, "data/tinystories/tinystories_train_head.txt"), encoding="utf-8") as f:
        b = f.read()[:3000]
    extra = "don't I'm we'll 1234567 café Привет 你好 😀\n\tdef foo(x): return x**2\n"
    return [a, b, extra]


LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def make_bytelevel_llama3(text):
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=256 + 100 + 4, min_frequency=2, show_progress=False,
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                             special_tokens=["<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>"])
    tok.train_from_iterator(text, tr)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                      special_tokens=[("<|begin_of_text|>", bos)]),
    ])
    return tok


def make_bytelevel_gpt2(text):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    tr = trainers.BpeTrainer(vocab_size=256 + 100 + 2, min_frequency=2, show_progress=False,
                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                             special_tokens=["<|endoftext|>", "<|im_start|>"])
    tok.train_from_iterator(text, tr)
    tok.add_tokens([AddedToken("<tool>", special=False, normalized=False)])
    return tok


def make_metaspace_spm(text):
    """SentencePiece-style BPE as newer Llama/Mistral tokenizer.json: Metaspace(prepend first), byte fallback."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tr = trainers.BpeTrainer(vocab_size=120, min_frequency=2, show_progress=False,
                             special_tokens=["<unk>", "<s>", "</s>"], limit_alphabet=60)
    tok.train_from_iterator(text, tr)
    j = json.loads(tok.to_str())
    vocab = j["model"]["vocab"]
    n = len(vocab)
    for b in range(256):
        vocab["<0x%02X>" % b] = n + b
    j["decoder"] = {"type": "Sequence", "decoders": [
        {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
        {"type": "ByteFallback"}, {"type": "Fuse"},
        {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    j["post_processor"] = {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [vocab["<s>"]], "tokens": ["<s>"]}}}
    return Tokenizer.from_str(json.dumps(j))


def make_handmade_order():
    """A merge list no trainer would write: merging 'a b' (rank 1) creates the pair 'ab c' of rank 0.
    With no pre-tokenizer the whole text is one word, long enough for our bucket queue."""
    vocab = {"<unk>": 0, "a": 1, "b": 2, "c": 3, "ab": 4, "abc": 5, "ca": 6, "cab": 7, "abcab": 8}
    merges = [("ab", "c"), ("a", "b"), ("c", "ab"), ("c", "a"), ("abc", "ab")]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>"))
    return tok


def save_fixture(tok, name):
    path = os.path.join(OUT, name)
    # compact but deterministic: one line, sorted by what tokenizers emits
    s = json.dumps(json.loads(tok.to_str()), ensure_ascii=False, separators=(",", ":"))
    with open(path, "w", encoding="utf-8") as f:
        f.write(s + "\n")
    return Tokenizer.from_file(path)


# ---- llama2.c run.c encode(), transcribed ----

def l2c_load(path):
    with open(path, "rb") as f:
        data = f.read()
    off = 4
    vocab, scores = [], []
    while off < len(data):
        s, n = struct.unpack_from("<fi", data, off)
        off += 8
        vocab.append(data[off:off + n])
        off += n
        scores.append(s)
    return vocab, scores


def l2c_encode(vocab, scores, lookup, text, bos, eos):
    # text: bytes. Mirrors run.c encode() statement by statement (O(n^2) merge loop kept as is).
    tokens = []
    if bos:
        tokens.append(1)
    if len(text) > 0:
        tokens.append(lookup.get(b" ", -1))
    buf = b""
    i = 0
    while i < len(text):
        c = text[i]
        if (c & 0xC0) != 0x80:
            buf = b""
        buf += bytes([c])
        nxt = text[i + 1] if i + 1 < len(text) else 0
        if (nxt & 0xC0) == 0x80 and len(buf) < 4:
            i += 1
            continue
        tid = lookup.get(buf, -1)
        if tid != -1:
            tokens.append(tid)
        else:
            for b in buf:
                tokens.append(b + 3)
        buf = b""
        i += 1
    while True:
        best_score, best_id, best_idx = struct.unpack("<f", struct.pack("<f", -1e10))[0], -1, -1
        for k in range(len(tokens) - 1):
            tid = lookup.get(vocab[tokens[k]] + vocab[tokens[k + 1]], -1)
            if tid != -1 and scores[tid] > best_score:
                best_score, best_id, best_idx = scores[tid], tid, k
        if best_idx == -1:
            break
        tokens[best_idx] = best_id
        del tokens[best_idx + 1]
    if eos:
        tokens.append(2)
    return tokens


def l2c_decode(vocab, ids):
    # run.c decode(prev, token) concatenated: the BOS itself is never printed (generation starts after it),
    # a piece right after BOS loses its leading space, <0xNN> pieces are the byte.
    out = b""
    prev = -1
    for t in ids:
        if t == 1 and prev == -1:
            prev = t
            continue
        piece = vocab[t]
        if prev == 1 and piece[:1] == b" ":
            piece = piece[1:]
        m = re.fullmatch(rb"<0x([0-9A-F]{2})>", piece)
        if m:
            piece = bytes([int(m.group(1), 16)])
        out += piece
        prev = t
    return out.decode("utf-8", errors="replace")


def l2c_entry(shared, rel, n_vocab):
    vocab, scores = l2c_load(os.path.join(shared, rel))
    assert len(vocab) == n_vocab and len(set(vocab)) == len(vocab)
    lookup = {v: i for i, v in enumerate(vocab)}
    cases = []
    for s in STRINGS:
        b = s.encode("utf-8")
        sb = l2c_encode(vocab, scores, lookup, b, True, False)
        sn = l2c_encode(vocab, scores, lookup, b, False, False)
        cases.append({"sb": sb, "s": sn, "p": sn, "d": l2c_decode(vocab, sb)})
    with open(os.path.join(shared, "data/wikitext-2-raw/wiki.test.raw"), "rb") as f:
        chunk = f.read()[:1500]
    ids = l2c_encode(vocab, scores, lookup, chunk, True, False)
    return {"file": rel, "where": "shared", "kind": "llama2c", "n_vocab": n_vocab, "bos": 1, "eos": 2,
            "adds_bos": True, "cases": cases, "wiki_chunk": {"bytes": 1500, "sb": ids}}


# ---- llama2 tokenizer.model: sentencepiece ----

def spm_entry(shared, wiki):
    import sentencepiece as spm
    path = os.path.join(shared, "models/llama2-tokenizer/tokenizer.model")
    sp = spm.SentencePieceProcessor(model_file=path)
    specials = ["<unk>", "<s>", "</s>"]
    pat = re.compile("|".join(re.escape(x) for x in sorted(specials, key=len, reverse=True)))

    def enc_special(s):
        ids, pos = [], 0
        for m in pat.finditer(s):
            if m.start() > pos:
                ids += sp.encode(s[pos:m.start()])
            ids.append(sp.piece_to_id(m.group(0)))
            pos = m.end()
        if pos < len(s):
            ids += sp.encode(s[pos:])
        return ids

    hf = hf_from_spm(sp)
    cases = []
    n_disagree = 0
    for s in STRINGS:
        sn = enc_special(s)
        p = sp.encode(s)
        sb = [1] + sn
        if hf.encode(s, add_special_tokens=True).ids != sb:
            n_disagree += 1
            print("  note: HF-from-spm differs from sentencepiece on %r" % s, file=sys.stderr)
        cases.append({"sb": sb, "s": sn, "p": p, "d": hf.decode(sb, skip_special_tokens=False)})
    print("  llama2 tokenizer.model: HF build agrees with sentencepiece on %d/%d strings" %
          (len(STRINGS) - n_disagree, len(STRINGS)), file=sys.stderr)
    assert sp.encode("Once upon a time") == [9038, 2501, 263, 931]
    return {"file": "models/llama2-tokenizer/tokenizer.model", "where": "shared", "kind": "spm-bpe",
            "n_vocab": sp.get_piece_size(), "bos": 1, "eos": 2, "adds_bos": True, "cases": cases,
            "wiki": wiki_summary(lambda t: sp.encode(t), wiki)}


def hf_from_spm(sp):
    """Meta's Llama-2 tokenizer.json layout, rebuilt from the .model (merges ordered by piece score)."""
    n = sp.get_piece_size()
    vocab = {sp.id_to_piece(i): i for i in range(n)}
    scores = {sp.id_to_piece(i): sp.get_score(i) for i in range(n) if sp.is_control(i) is False}
    merges = []
    for piece, score in scores.items():
        local = []
        for k in range(1, len(piece)):
            a, b = piece[:k], piece[k:]
            if a in vocab and b in vocab:
                local.append((a, b, score))
        local.sort(key=lambda x: (vocab[x[0]], vocab[x[1]]))
        merges.extend(local)
    merges.sort(key=lambda v: (v[2], len(v[0]), len(v[1])), reverse=True)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[(a, b) for a, b, _ in merges], unk_token="<unk>",
                               fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ["<unk>", "<s>", "</s>"]])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    return tok


# ---- SmolLM2 GGUF vocab ----

def gguf_entry(gguf_path, wiki):
    from gguf import GGUFReader
    r = GGUFReader(gguf_path)

    def arr(key):
        f = r.fields[key]
        return [f.parts[i] for i in f.data]

    tokens = [bytes(x).decode("utf-8") for x in arr("tokenizer.ggml.tokens")]
    types = [int(x[0]) for x in arr("tokenizer.ggml.token_type")]
    merges = [bytes(x).decode("utf-8") for x in arr("tokenizer.ggml.merges")]
    pre = bytes(r.fields["tokenizer.ggml.pre"].parts[-1]).decode()
    bos = int(r.fields["tokenizer.ggml.bos_token_id"].parts[-1][0])
    eos = int(r.fields["tokenizer.ggml.eos_token_id"].parts[-1][0])
    assert pre == "smollm", pre
    vocab = {t: i for i, t in enumerate(tokens)}
    pairs = [tuple(m.split(" ", 1)) for m in merges]

    def build(with_special):
        tok = Tokenizer(models.BPE(vocab=vocab, merges=pairs))
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
        tok.decoder = decoders.ByteLevel()
        if with_special:
            tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                                    for t, ty in zip(tokens, types) if ty == 3])
        return tok

    tok, plain = build(True), build(False)
    cases = hf_cases(tok, plain)
    try:
        from transformers import AutoTokenizer
        tt = AutoTokenizer.from_pretrained(os.path.dirname(gguf_path), gguf_file=os.path.basename(gguf_path))
        bad = [s for s, c in zip(STRINGS, cases) if tt(s, add_special_tokens=True).input_ids != c["sb"]]
        print("  SmolLM2 GGUF: transformers' GGUF conversion agrees on %d/%d strings%s" %
              (len(STRINGS) - len(bad), len(STRINGS), (" (differs: %r)" % bad) if bad else ""), file=sys.stderr)
    except Exception as e:  # transformers is a cross-check only
        print("  note: transformers GGUF cross-check skipped: %s" % e, file=sys.stderr)
    return {"file": "SmolLM2-135M-Instruct.Q4_1.gguf", "where": "cache", "kind": "byte-bpe", "n_vocab": len(tokens),
            "bos": bos, "eos": eos, "adds_bos": False, "cases": cases,
            "wiki": wiki_summary(lambda t: plain.encode(t, add_special_tokens=False).ids, wiki)}


def json_entry(tok, rel, where, kind, bos, eos, adds_bos, wiki):
    plain = drop_special_added(tok.to_str())
    return {"file": rel, "where": where, "kind": kind, "n_vocab": tok.get_vocab_size(with_added_tokens=True),
            "bos": bos, "eos": eos, "adds_bos": adds_bos, "cases": hf_cases(tok, plain),
            "wiki": wiki_summary(lambda t: plain.encode(t, add_special_tokens=False).ids, wiki)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.environ.get("LOWBIT_SHARED", os.path.join(REPO, "..", "shared")))
    ap.add_argument("--gguf", default=os.path.join(REPO, ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    a = ap.parse_args()
    shared = os.path.abspath(a.shared)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(shared, "data/wikitext-2-raw/wiki.test.raw"), encoding="utf-8") as f:
        wiki = f.read()

    text = training_text(shared)
    l3 = save_fixture(make_bytelevel_llama3(text), "bytelevel_llama3.json")
    g2 = save_fixture(make_bytelevel_gpt2(text), "bytelevel_gpt2.json")
    ms = save_fixture(make_metaspace_spm(text), "metaspace_spm.json")

    ents = {}
    print("tinystories-656k tokenizer.json", file=sys.stderr)
    ts = Tokenizer.from_file(os.path.join(shared, "models/tinystories-656k-hf/tokenizer.json"))
    ents["tinystories-json"] = json_entry(ts, "models/tinystories-656k-hf/tokenizer.json", "shared", "spm-bpe",
                                          1, 2, True, wiki)
    print("fixtures", file=sys.stderr)
    ents["bytelevel-llama3-json"] = json_entry(l3, "tests/golden/tok/bytelevel_llama3.json", "source", "byte-bpe",
                                               l3.token_to_id("<|begin_of_text|>"), -1, True, wiki)
    ents["bytelevel-gpt2-json"] = json_entry(g2, "tests/golden/tok/bytelevel_gpt2.json", "source", "byte-bpe",
                                             -1, -1, False, wiki)
    ents["metaspace-spm-json"] = json_entry(ms, "tests/golden/tok/metaspace_spm.json", "source", "spm-bpe",
                                            ms.token_to_id("<s>"), -1, True, wiki)
    hm = save_fixture(make_handmade_order(), "handmade_order.json")
    ents["handmade-order-json"] = json_entry(hm, "tests/golden/tok/handmade_order.json", "source", "spm-bpe",
                                             -1, -1, False, wiki)
    extra = ["abc" * 1000 + "cab" * 300 + "ab" * 200, ("abcab" * 7 + "c") * 130]
    ents["handmade-order-json"]["extra"] = [{"text": x, "p": hm.encode(x, add_special_tokens=False).ids} for x in extra]
    print("llama2 tokenizer.model", file=sys.stderr)
    ents["llama2-model"] = spm_entry(shared, wiki)
    print("llama2.c tokenizers", file=sys.stderr)
    ents["llama2-bin"] = l2c_entry(shared, "models/llama2-tokenizer/tokenizer.bin", 32000)
    ents["tok512-bin"] = l2c_entry(shared, "models/stories260K-llama2c/tok512.bin", 512)
    # llama2.c's export of the Llama 2 model agrees with sentencepiece on plain text
    assert ents["llama2-bin"]["cases"][STRINGS.index("Once upon a time")]["sb"] == [1, 9038, 2501, 263, 931]
    same = sum(a["sb"] == b["sb"] for a, b in zip(ents["llama2-bin"]["cases"], ents["llama2-model"]["cases"]))
    print("  llama2 tokenizer.bin (run.c) == tokenizer.model (sentencepiece) on %d/%d strings" %
          (same, len(STRINGS)), file=sys.stderr)
    if os.path.exists(a.gguf):
        print("SmolLM2 GGUF", file=sys.stderr)
        ents["smollm2-gguf"] = gguf_entry(a.gguf, wiki)
    else:
        print("note: %s absent, no GGUF golden" % a.gguf, file=sys.stderr)

    out = {"comment": "generated by tests/golden/make_tok_golden.py; do not edit", "strings": STRINGS,
           "tokenizers": ents}
    with open(os.path.join(OUT, "tok_golden.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print("wrote %s" % os.path.join(OUT, "tok_golden.json"), file=sys.stderr)


if __name__ == "__main__":
    main()
