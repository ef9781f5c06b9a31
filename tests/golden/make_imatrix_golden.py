#!/usr/bin/env python3
"""Golden importance matrix for tests/calib/test_imatrix.c, computed independently of lowbit:
Hugging Face transformers' LlamaForCausalLM in PyTorch, float64, eval mode, with forward
pre-hooks on every nn.Linear of the blocks that add up the square of each input column.

Protocol (llama.cpp tools/imatrix/imatrix.cpp compute_imatrix): the text is tokenized with the
model's own tokenizer (HF `tokenizers`, add_special_tokens=True: BOS first, since this vocabulary
adds BOS), cut into chunks of N_CTX tokens; the first token of every chunk is replaced by BOS;
each chunk is one sequence. Per weight (GGUF name) in_sum2[j] = sum over tokens of x_j^2 and
counts = tokens. q/k/v hooks see the same input, as do gate/up.

Writes, under tests/golden/imatrix/:
  tinystories-656k.json  text bytes used, token ids, n_ctx, n_chunks, and per weight count + sums
  tinystories-656k.dat   the same sums in llama.cpp's legacy layout (save_imatrix_legacy), written
                         here with struct.pack: n_entries; per entry (sorted names) len, name,
                         ncall = ceil(count / chunk), nval, float32 (sum/count)*ncall; last chunk;
                         len + dataset name
  tinystories-656k.gguf  the GGUF imatrix (save_imatrix) written with the gguf package's GGUFWriter:
                         general.type "imatrix", imatrix.datasets, imatrix.chunk_count,
                         imatrix.chunk_size, "<name>.in_sum2" F32 [n_in] and "<name>.counts" F32 [1]

Usage (from the repository root):
  python3 tests/golden/make_imatrix_golden.py [--shared ../shared]
"""
import argparse
import datetime
import json
import os
import platform
import struct
import sys

import numpy as np
import torch

import gguf
import tokenizers
import transformers
from transformers import LlamaForCausalLM

from golden_common import DEFAULT_SHARED, ROOT, gguf_version, sha256

N_CTX = 64
N_CHUNKS = 4
TEXT_BYTES = 4096
DATASET = "tinystories_train_head.txt"
OUT_DIR = os.path.join(ROOT, "tests", "golden", "imatrix")

ROLES = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
         "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
         "mlp.down_proj": "ffn_down"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shared", default=DEFAULT_SHARED)
    args = ap.parse_args()
    model_dir = os.path.join(args.shared, "models", "tinystories-656k-hf")
    text_path = os.path.join(args.shared, "data", "tinystories", DATASET)
    text = open(text_path, "rb").read()[:TEXT_BYTES].decode("utf-8")

    tok = tokenizers.Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    ids = tok.encode(text, add_special_tokens=True).ids
    bos = 1
    assert ids[0] == bos and len(ids) >= max(2, N_CHUNKS) * N_CTX, len(ids)

    model = LlamaForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float64, attn_implementation="eager").eval()
    sums, counts = {}, {}

    def hook(name):
        def pre(_mod, inputs):
            x = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).to(torch.float64)
            s = (x * x).sum(0)
            sums[name] = sums.get(name, 0) + s
            counts[name] = counts.get(name, 0) + x.shape[0]
        return pre

    for i, layer in enumerate(model.model.layers):
        for path, gname in ROLES.items():
            mod = layer.get_submodule(path)
            mod.register_forward_pre_hook(hook(f"blk.{i}.{gname}.weight"))

    chunks = []
    for c in range(N_CHUNKS):
        chunk = list(ids[c * N_CTX:(c + 1) * N_CTX])
        chunk[0] = bos
        chunks.append(chunk)
    with torch.no_grad():
        for chunk in chunks:  # one sequence per forward, as llama-imatrix with n_seq 1
            model(torch.tensor([chunk]), use_cache=False)

    names = sorted(sums)
    entries = {n: {"count": int(counts[n]), "sum2": [float(v) for v in sums[n].numpy()]} for n in names}
    os.makedirs(OUT_DIR, exist_ok=True)
    base = os.path.join(OUT_DIR, "tinystories-656k")

    # legacy .dat, laid out exactly as save_imatrix_legacy writes it (float32 arithmetic)
    with open(base + ".dat", "wb") as f:
        f.write(struct.pack("<i", len(names)))
        for n in names:
            count = counts[n]
            ncall = (count + N_CTX - 1) // N_CTX
            vals = (sums[n].numpy().astype(np.float32) / np.float32(count)) * np.float32(ncall)
            f.write(struct.pack("<i", len(n)) + n.encode())
            f.write(struct.pack("<ii", ncall, len(vals)))
            f.write(vals.astype("<f4").tobytes())
        f.write(struct.pack("<i", N_CHUNKS))
        f.write(struct.pack("<i", len(DATASET)) + DATASET.encode())

    # GGUF imatrix via gguf-py (an independent GGUF writer)
    w = gguf.GGUFWriter(base + ".gguf", arch="imatrix")
    w.kv_data[0].pop("general.architecture", None)  # llama-imatrix writes none
    w.add_type("imatrix")
    w.add_array("imatrix.datasets", [DATASET])
    w.add_uint32("imatrix.chunk_count", N_CHUNKS)
    w.add_uint32("imatrix.chunk_size", N_CTX)
    for n in names:
        w.add_tensor(n + ".in_sum2", sums[n].numpy().astype(np.float32))
        w.add_tensor(n + ".counts", np.array([counts[n]], dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    out = {
        "model": "shared:models/tinystories-656k-hf",
        "text": "shared:data/tinystories/" + DATASET,
        "text_bytes": TEXT_BYTES,
        "n_ctx": N_CTX,
        "n_chunks": N_CHUNKS,
        "bos_id": bos,
        "ids": ids[:N_CHUNKS * N_CTX],
        "n_ids_total": len(ids),
        "entries": entries,
        "provenance": {
            "script": "tests/golden/make_imatrix_golden.py",
            "date": datetime.date.today().isoformat(),
            "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
            "gguf": gguf_version(), "numpy": np.__version__,
            "model_sha256": sha256(os.path.join(model_dir, "model.safetensors")),
            "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        },
    }
    with open(base + ".json", "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {base}.json/.dat/.gguf: {len(names)} entries, {len(ids)} tokens in the text")


if __name__ == "__main__":
    main()
