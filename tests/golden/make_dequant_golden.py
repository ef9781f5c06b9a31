#!/usr/bin/env python3
"""Writes tests/golden/dequant/<TYPE>.bin: real blocks of every GGUF type lowbit decodes and
the float32 values llama.cpp decodes them to, for tests/quant/test_dequant.c.

Blocks come from llama.cpp's own quantizer (ggml_quantize_chunk, with and without an
importance matrix) applied to random and adversarial rows (zeros, constants, one huge
outlier, small and tiny values whose scales become f16 subnormals or flush to zero, a
ramp, values near the f16 range), plus random-but-valid block bytes (every bit random except the f16 scales, which are
random finite codes) to reach bit patterns no quantizer emits. Expected floats come from
llama.cpp's reference dequantize_row_* / ggml_fp16_to_fp32_row / ggml_bf16_to_fp32_row,
called through ctypes in the libggml-base.so that llama-cpp-python bundles. Each result is
cross-checked against gguf-py's numpy dequantize (an independent implementation), and the
script fails if they disagree on any bit.

Without llama-cpp-python the script still runs: legacy types are quantized with gguf-py,
k-quants use random-but-valid blocks only, and gguf-py's dequantize is the oracle; the
oracle string written into every file says which one was used.

Scalar float types: F16 and BF16 codes are decoded by ggml (or numpy), F64 is narrowed by
numpy's astype (round to nearest even), the float8 formats are decoded by PyTorch's
float8_e4m3fn / float8_e5m2 dtypes.

File layout (little-endian), read by tests/quant/test_dequant.c:
  0   char[8]  magic "LBDQGLD1"
  8   u32      ggml type id          12  u32  block_size (elements per block)
  16  u32      type_size (bytes)     20  u32  n_blocks
  24  u32      n_cases               28  char[16] type name
  44  char[84] oracle, NUL-padded                        (header: 128 bytes)
  128 n_cases x {char[32] label, u32 first_block, u32 n_blocks}
  ... n_blocks * type_size raw block bytes
  ... n_blocks * block_size float32 expected values

Usage: python3 tests/golden/make_dequant_golden.py [--out DIR] [--no-llama]
"""

import argparse
import ctypes
import glob
import hashlib
import os
import struct
import sys

import numpy as np

import gguf
from gguf import GGMLQuantizationType as T
from gguf import quants as gq

SEED = 20250611
MAGIC = b"LBDQGLD1"

# type -> offsets of the f16 scale fields inside one block (ggml-common.h layouts)
BLOCK_TYPES = {
    T.Q4_0: [0],
    T.Q4_1: [0, 2],
    T.Q5_0: [0],
    T.Q5_1: [0, 2],
    T.Q8_0: [0],
    T.IQ4_NL: [0],
    T.Q2_K: [80, 82],
    T.Q3_K: [108],
    T.Q4_K: [0, 2],
    T.Q5_K: [0, 2],
    T.Q6_K: [208],
    T.IQ4_XS: [0],
}

DEQUANT_SYMBOL = {
    T.Q4_0: "dequantize_row_q4_0",
    T.Q4_1: "dequantize_row_q4_1",
    T.Q5_0: "dequantize_row_q5_0",
    T.Q5_1: "dequantize_row_q5_1",
    T.Q8_0: "dequantize_row_q8_0",
    T.IQ4_NL: "dequantize_row_iq4_nl",
    T.Q2_K: "dequantize_row_q2_K",
    T.Q3_K: "dequantize_row_q3_K",
    T.Q4_K: "dequantize_row_q4_K",
    T.Q5_K: "dequantize_row_q5_K",
    T.Q6_K: "dequantize_row_q6_K",
    T.IQ4_XS: "dequantize_row_iq4_xs",
}


# ---- llama.cpp through ctypes ----

class Ggml:
    """The reference codecs of the libggml-base.so shipped inside llama-cpp-python."""

    def __init__(self):
        import llama_cpp  # noqa: F401  (locates the bundled libraries)

        libdir = os.path.join(os.path.dirname(llama_cpp.__file__), "lib")
        cands = sorted(glob.glob(os.path.join(libdir, "libggml-base.so*"))) or sorted(
            glob.glob(os.path.join(libdir, "libggml.so*")))
        if not cands:
            raise OSError(f"no libggml-base.so under {libdir}")
        self.lib = ctypes.CDLL(cands[0])
        self.path = cands[0]
        try:
            from importlib.metadata import version
            self.version = version("llama_cpp_python")
        except Exception:
            self.version = getattr(llama_cpp, "__version__", "?")
        L = self.lib
        L.ggml_quantize_chunk.restype = ctypes.c_size_t
        L.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                          ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
        L.ggml_type_size.restype = ctypes.c_size_t
        L.ggml_type_size.argtypes = [ctypes.c_int]
        L.ggml_blck_size.restype = ctypes.c_int64
        L.ggml_blck_size.argtypes = [ctypes.c_int]
        for name in list(DEQUANT_SYMBOL.values()) + ["ggml_fp16_to_fp32_row", "ggml_bf16_to_fp32_row"]:
            fn = getattr(L, name)
            fn.restype = None
            fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]

    def oracle(self):
        return f"llama.cpp ggml-base (llama-cpp-python {self.version})"

    def quantize(self, qtype, rows, imatrix=None):
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        nrows, n_per_row = rows.shape
        bs, ts = gguf.GGML_QUANT_SIZES[qtype]
        out = np.zeros(nrows * (n_per_row // bs) * ts, dtype=np.uint8)
        im = None
        if imatrix is not None:
            imatrix = np.ascontiguousarray(imatrix, dtype=np.float32)
            im = imatrix.ctypes.data
        n = self.lib.ggml_quantize_chunk(int(qtype), rows.ctypes.data, out.ctypes.data, 0, nrows, n_per_row, im)
        assert n == out.size, (qtype, n, out.size)
        return out

    def _call(self, name, raw, n):
        raw = np.ascontiguousarray(raw, dtype=np.uint8)
        out = np.empty(n, dtype=np.float32)
        getattr(self.lib, name)(raw.ctypes.data, out.ctypes.data, n)
        return out

    def dequantize(self, qtype, raw):
        bs, ts = gguf.GGML_QUANT_SIZES[qtype]
        return self._call(DEQUANT_SYMBOL[qtype], raw, raw.size // ts * bs)

    def f16_to_f32(self, codes):
        return self._call("ggml_fp16_to_fp32_row", codes.view(np.uint8), codes.size)

    def bf16_to_f32(self, codes):
        return self._call("ggml_bf16_to_fp32_row", codes.view(np.uint8), codes.size)


# ---- inputs ----

def test_rows(rng, n):
    """(label, row) pairs of length n: typical, adversarial, degenerate."""
    rows = []
    rows.append(("normal", rng.normal(0, 0.02, n)))
    rows.append(("zeros", np.zeros(n)))
    rows.append(("constant", np.full(n, 0.7)))
    rows.append(("neg_constant", np.full(n, -1.25)))
    x = rng.normal(0, 0.02, n)
    x[7] = 300.0
    x[n - 5] = -250.0
    rows.append(("outlier", x))
    rows.append(("small", rng.normal(0, 1e-4, n)))  # scales land in f16 subnormals
    rows.append(("tiny", rng.normal(0, 1e-6, n)))   # scales underflow to 0 (or the least subnormal)
    rows.append(("ramp", np.linspace(-1.0, 1.0, n)))
    rows.append(("near_f16_max", rng.uniform(-60000.0, 60000.0, n)))
    return [(label, r.astype(np.float32)) for label, r in rows]


def random_f16_scale(rng, lo_exp, hi_exp):
    """A random finite f16 code with biased exponent in [lo_exp, hi_exp] (0 = subnormal)."""
    e = int(rng.integers(lo_exp, hi_exp + 1))
    m = int(rng.integers(0, 1024))
    s = int(rng.integers(0, 2))
    return (s << 15) | (e << 10) | m


def random_blocks(rng, qtype, n_blocks):
    """Random block bytes with finite scales: block 0 anywhere in the f16 range (incl.
    subnormals), later blocks with everyday magnitudes (2^-10 .. 2^-3)."""
    bs, ts = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, ts), dtype=np.uint8)
    for b in range(n_blocks):
        for off in BLOCK_TYPES[qtype]:
            code = random_f16_scale(rng, 0, 30) if b == 0 else random_f16_scale(rng, 5, 12)
            raw[b, off:off + 2] = np.frombuffer(struct.pack("<H", code), dtype=np.uint8)
    return raw.reshape(-1)


# ---- writing ----

def write_golden(path, qtype, name, bs, ts, cases, raw, values, oracle):
    n_blocks = raw.size // ts
    assert raw.size == n_blocks * ts and values.size == n_blocks * bs, (name, raw.size, values.size)
    hdr = MAGIC + struct.pack("<5I", int(qtype), bs, ts, n_blocks, len(cases))
    hdr += name.encode().ljust(16, b"\0")[:16] + oracle.encode().ljust(84, b"\0")[:84]
    assert len(hdr) == 128
    body = b"".join(label.encode().ljust(32, b"\0")[:32] + struct.pack("<2I", first, nb) for label, first, nb in cases)
    data = hdr + body + raw.astype(np.uint8).tobytes() + values.astype("<f4").tobytes()
    with open(path, "wb") as f:
        f.write(data)
    return data


def same_bits(a, b):
    return a.shape == b.shape and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def block_type_golden(qtype, ggml, rng, legacy_py_quant):
    name = qtype.name
    bs, ts = gguf.GGML_QUANT_SIZES[qtype]
    n = 64 if bs == 32 else 256  # two legacy blocks or one super-block per case
    cases, chunks = [], []
    n_blocks = 0

    def add(label, raw):
        nonlocal n_blocks
        nb = raw.size // ts
        cases.append((label, n_blocks, nb))
        chunks.append(raw)
        n_blocks += nb

    for label, row in test_rows(rng, n):
        if ggml:
            add("ggml/" + label, ggml.quantize(qtype, row.reshape(1, n)))
        elif legacy_py_quant and qtype in (T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0):
            add("gguf-py/" + label, gq.quantize(row.reshape(1, n), qtype).reshape(-1))
    if ggml:
        row = rng.normal(0, 0.02, n).astype(np.float32)
        imatrix = rng.uniform(0.05, 4.0, n).astype(np.float32)
        add("ggml/imatrix", ggml.quantize(qtype, row.reshape(1, n), imatrix))
    add("random_bytes", random_blocks(rng, qtype, 2))

    raw = np.concatenate(chunks)
    py = gq.dequantize(raw, qtype).reshape(-1).astype(np.float32)
    if ggml:
        values = ggml.dequantize(qtype, raw)
        if not same_bits(values, py):
            bad = np.nonzero(values.view(np.uint32) != py.view(np.uint32))[0]
            sys.exit(f"{name}: llama.cpp and gguf-py dequantize disagree at {bad.size} values, first {bad[:5]}: "
                     f"{values[bad[:5]]} vs {py[bad[:5]]}")
        oracle = ggml.oracle() + "; = gguf-py"
    else:
        values = py
        oracle = f"gguf-py {gguf_version()} numpy dequantize"
    assert np.all(np.isfinite(values)), name
    return name, bs, ts, cases, raw, values, oracle


def gguf_version():
    try:
        from importlib.metadata import version
        return version("gguf")
    except Exception:
        return "?"


def float_type_goldens(ggml, rng):
    """(name, type id, type_size, cases, raw bytes, expected) for the scalar float types."""
    out = []

    # F32: identity, including a NaN payload and -0.
    f32 = np.array([0.0, -0.0, 1.0, -3.5, 3.4028235e38, 1e-45, np.inf, -np.inf], dtype=np.float32)
    f32 = np.concatenate([f32, np.array([0x7fc12345, 0xff800001], dtype=np.uint32).view(np.float32),
                          rng.normal(0, 1, 22).astype(np.float32)])
    out.append(("F32", int(T.F32), 4, [("specials+normal", 0, f32.size)], f32.view(np.uint8), f32.copy(),
                "identity"))

    # F16: specials, every subnormal boundary region, random codes; signaling NaNs are left to
    # the exhaustive test (hardware converters quiet them, numpy does not).
    specials = [0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400, 0x3c00, 0xbc00, 0x7bff, 0xfbff,
                0x7c00, 0xfc00, 0x7e00, 0xfe00, 0x7fff, 0x3555, 0x0200]
    rnd = rng.integers(0, 65536, 239).astype(np.uint16)
    rnd = rnd[~(((rnd & 0x7c00) == 0x7c00) & ((rnd & 0x3ff) != 0) & ((rnd & 0x200) == 0))]
    f16 = np.concatenate([np.array(specials, dtype=np.uint16), rnd])
    want = ggml.f16_to_f32(f16) if ggml else f16.view(np.float16).astype(np.float32)
    np_want = f16.view(np.float16).astype(np.float32)
    assert np.array_equal(np.isnan(want), np.isnan(np_want)) and np.array_equal(
        want[~np.isnan(want)].view(np.uint32), np_want[~np.isnan(np_want)].view(np.uint32)), "F16 oracles disagree"
    out.append(("F16", int(T.F16), 2, [("specials", 0, len(specials)), ("random", len(specials), rnd.size)],
                f16.view(np.uint8), want, (ggml.oracle() if ggml else "numpy") + " fp16->fp32; = numpy"))

    # BF16: specials and random codes (payload-preserving decode: NaNs compare by sign only).
    specials = [0x0000, 0x8000, 0x0001, 0x007f, 0x0080, 0x3f80, 0xbf80, 0x7f7f, 0xff7f, 0x7f80,
                0xff80, 0x7fc0, 0xffc1, 0x7f81]
    bf = np.concatenate([np.array(specials, dtype=np.uint16), rng.integers(0, 65536, 242).astype(np.uint16)])
    np_want = (bf.astype(np.uint32) << 16).view(np.float32)
    want = ggml.bf16_to_f32(bf) if ggml else np_want
    out.append(("BF16", int(T.BF16), 2, [("specials", 0, len(specials)), ("random", len(specials), bf.size - len(specials))],
                bf.view(np.uint8), want, (ggml.oracle() if ggml else "numpy") + " bf16->fp32"))

    # F64: narrowing with round to nearest even, overflow to inf, subnormal results.
    f64 = np.array([0.0, -0.0, 1.0, 1.0 + 2.0**-24, 1.0 + 3 * 2.0**-24, 1.0 + 2.0**-24 + 2.0**-50,
                    3.4028235677973366e38, 3.4028235677973366e38 * (1 + 2.0**-25), 1e300, -1e300,
                    2.0**-149, 2.0**-150, 2.0**-150 * 3, 1e-320, np.inf, -np.inf, np.pi, -np.e], dtype=np.float64)
    f64 = np.concatenate([f64, rng.normal(0, 1e3, 14)])
    with np.errstate(over="ignore"):  # 1e300 -> inf is the point
        f64_want = f64.astype(np.float32)
    out.append(("F64", int(T.F64), 8, [("specials+normal", 0, f64.size)], f64.view(np.uint8), f64_want,
                "numpy float64->float32 (RNE)"))

    # float8: all 256 codes of each format, decoded by PyTorch.
    try:
        import torch
        codes = np.arange(256, dtype=np.uint8)
        for name, tid, tdt in (("F8_E4M3", 64, torch.float8_e4m3fn), ("F8_E5M2", 65, torch.float8_e5m2)):
            want = torch.from_numpy(codes.copy()).view(tdt).to(torch.float32).numpy()
            out.append((name, tid, 1, [("all_codes", 0, 256)], codes, want, f"torch {torch.__version__} {tdt}"))
    except ImportError:
        print("torch not available: float8 goldens skipped", file=sys.stderr)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "dequant"))
    ap.add_argument("--no-llama", action="store_true", help="do not use llama-cpp-python even if installed")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    ggml = None
    if not args.no_llama:
        try:
            ggml = Ggml()
            print(f"oracle: {ggml.path} ({ggml.oracle()})")
        except Exception as e:  # noqa: BLE001
            print(f"llama-cpp-python unusable ({e}); falling back to gguf-py", file=sys.stderr)

    rng = np.random.default_rng(SEED)
    manifest = ["# type  blocks  bytes  sha256[:16]  oracle", "# written by tests/golden/make_dequant_golden.py"]
    written = []
    for qtype in BLOCK_TYPES:
        name, bs, ts, cases, raw, values, oracle = block_type_golden(qtype, ggml, rng, legacy_py_quant=True)
        if ggml:  # our tables must agree with the library, not only with gguf-py
            assert (ggml.lib.ggml_blck_size(int(qtype)), ggml.lib.ggml_type_size(int(qtype))) == (bs, ts), name
        written.append((name, int(qtype), bs, ts, cases, raw, values, oracle))
    for name, tid, ts, cases, raw, values, oracle in float_type_goldens(ggml, rng):
        written.append((name, tid, 1, ts, cases, raw, values, oracle))

    for name, tid, bs, ts, cases, raw, values, oracle in written:
        path = os.path.join(args.out, f"{name}.bin")
        data = write_golden(path, tid, name, bs, ts, cases, raw, values, oracle)
        digest = hashlib.sha256(data).hexdigest()[:16]
        manifest.append(f"{name:8s} {raw.size // ts:4d} {len(data):6d}  {digest}  {oracle}")
        print(f"{path}: {raw.size // ts} blocks, {len(cases)} cases, {len(data)} bytes")
    if ggml:
        sizes = [f"{t.name}={ggml.lib.ggml_blck_size(int(t))}x{ggml.lib.ggml_type_size(int(t))}"
                 for t in (T.Q8_1, T.Q8_K)]
        manifest.append("# ggml sizes of the non-decoded block types: " + " ".join(sizes))
    with open(os.path.join(args.out, "MANIFEST.txt"), "w") as f:
        f.write("\n".join(manifest) + "\n")


if __name__ == "__main__":
    main()
