#!/usr/bin/env python3
"""Writes tests/golden/quant/: float rows, importance matrices, and the bytes llama.cpp's own
quantizer makes of them, for tests/quant/test_quantize.c (lowbit's quantizers must match byte
for byte).

The oracle is ggml_quantize_chunk(type, src, dst, 0, n_rows, n_per_row, imatrix) in the
libggml-base.so that llama-cpp-python bundles, called through ctypes (the same library
make_dequant_golden.py uses). Each row set is quantized three times: without an imatrix (the
quantize_row_<type>_ref path for most types), with random positive importance weights, and
with importance weights of which about a quarter are exactly zero (the quantize_<type>_impl
paths). There is no fallback oracle: without llama-cpp-python the script stops.

Row sets (seeded): gaussian, heavy-tailed (Student t, 3 degrees of freedom), all zeros,
constants, all positive, one huge outlier, tiny values (scales land in f16 subnormals or
flush to zero), a ramp, values near the f16 limit, multiples of 1/8 (rounding ties), sparse rows, long rows (4096: the imatrix paths weigh by the whole row's
variance), and a 96-wide set only the 32-element block types can take.

inputs.bin (little-endian):
  char[8] "LBQIN001", u32 n_sets
  n_sets x { char[32] label, u32 n_rows, u32 n_per_row,
             f32 rows[n_rows*n_per_row], f32 imatrix_rand[n_per_row], f32 imatrix_zeros[n_per_row] }
<TYPE>.bin:
  char[8] "LBQGLD01", u32 ggml type id, u32 n_sets, char[16] type name, char[96] oracle
  n_sets x 3 variants (none, rand, zeros) x { u32 nbytes, u8 bytes[nbytes] }  (nbytes 0: skipped)

Usage: python3 tests/golden/make_quant_golden.py [--out DIR]
"""

import argparse
import hashlib
import os
import struct
import sys

import numpy as np

import gguf
from gguf import GGMLQuantizationType as T

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_dequant_golden import Ggml  # noqa: E402

SEED = 20250612
TYPES = [T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q4_K, T.Q6_K, T.Q5_K, T.Q3_K, T.Q2_K, T.IQ4_NL, T.IQ4_XS]


def row_sets(rng):
    """(label, rows[n_rows, n_per_row]) pairs."""
    sets = []
    n = 256
    sets.append(("gaussian", rng.normal(0, 0.02, (4, n))))
    sets.append(("student_t", rng.standard_t(3, (4, n)) * 0.02))
    sets.append(("zeros", np.zeros((1, n))))
    sets.append(("constant", np.stack([np.full(n, 0.7), np.full(n, -1.25)])))
    sets.append(("positive", rng.uniform(0.1, 1.0, (1, n))))
    x = rng.normal(0, 0.02, (2, n))
    x[0, 7] = 300.0
    x[1, n - 5] = -250.0
    sets.append(("outlier", x))
    sets.append(("tiny", np.stack([rng.normal(0, 1e-4, n), rng.normal(0, 1e-6, n)])))
    sets.append(("ramp", np.linspace(-1.0, 1.0, n).reshape(1, n)))
    sets.append(("near_f16_max", rng.uniform(-60000.0, 60000.0, (1, n))))
    sets.append(("grid_ties", rng.integers(-16, 16, (2, n)) * 0.125))  # exact halves: rounding ties
    x = np.zeros((2, n))
    x[0, rng.choice(n, 6, replace=False)] = rng.normal(0, 1.0, 6)  # mostly empty sub-blocks
    x[1, ::37] = 0.5
    sets.append(("sparse", x))
    sets.append(("long_gaussian", rng.normal(0, 0.02, (2, 4096))))
    sets.append(("mid_student_t", rng.standard_t(3, (2, 512)) * 0.05))
    sets.append(("w96_gaussian", rng.normal(0, 1.0, (2, 96))))
    return [(label, r.astype(np.float32)) for label, r in sets]


def imatrices(rng, n):
    rand = rng.uniform(0.05, 4.0, n).astype(np.float32)
    zeros = rng.uniform(0.05, 4.0, n).astype(np.float32)
    zeros[rng.random(n) < 0.25] = 0.0
    zeros[:32] = 0.0  # a whole 32-block without weight (IQ4: 0/0 scale)
    return rand, zeros


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "quant"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    ggml = Ggml()
    print(f"oracle: {ggml.path} ({ggml.oracle()})")
    rng = np.random.default_rng(SEED)
    sets = [(label, rows) + imatrices(rng, rows.shape[1]) for label, rows in row_sets(rng)]

    inp = b"LBQIN001" + struct.pack("<I", len(sets))
    for label, rows, im_rand, im_zeros in sets:
        inp += label.encode().ljust(32, b"\0") + struct.pack("<2I", *rows.shape)
        inp += rows.astype("<f4").tobytes() + im_rand.astype("<f4").tobytes() + im_zeros.astype("<f4").tobytes()
    files = {"inputs.bin": inp}

    oracle = "ggml_quantize_chunk, " + ggml.oracle()
    for qtype in TYPES:
        bs, ts = gguf.GGML_QUANT_SIZES[qtype]
        assert (ggml.lib.ggml_blck_size(int(qtype)), ggml.lib.ggml_type_size(int(qtype))) == (bs, ts), qtype
        data = b"LBQGLD01" + struct.pack("<2I", int(qtype), len(sets))
        data += qtype.name.encode().ljust(16, b"\0") + oracle.encode().ljust(96, b"\0")[:96]
        for label, rows, im_rand, im_zeros in sets:
            for im in (None, im_rand, im_zeros):
                if rows.shape[1] % bs:
                    data += struct.pack("<I", 0)
                    continue
                q = ggml.quantize(qtype, rows, im).tobytes()
                data += struct.pack("<I", len(q)) + q
        files[f"{qtype.name}.bin"] = data

    manifest = ["# file  bytes  sha256[:16]", f"# written by tests/golden/make_quant_golden.py; oracle: {oracle}"]
    for name, data in files.items():
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(data)
        manifest.append(f"{name:12s} {len(data):7d}  {hashlib.sha256(data).hexdigest()[:16]}")
        print(f"{name}: {len(data)} bytes")
    with open(os.path.join(args.out, "MANIFEST.txt"), "w") as f:
        f.write("\n".join(manifest) + "\n")


if __name__ == "__main__":
    main()
