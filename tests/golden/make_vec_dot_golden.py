#!/usr/bin/env python3
"""Writes tests/golden/vec_dot/: activation rows with llama.cpp's Q8_0 / Q8_1 / Q8_K
quantizations of them, and for every weight type lowbit multiplies, weight rows quantized by
llama.cpp with three answers for their dot with the quantized activation rows, for
tests/kernels/test_vec_dot.c.

Everything comes from the libggml-base.so / libggml-cpu.so that llama-cpp-python bundles,
called through ctypes:
  - activations: quantize_row_q8_0_ref / q8_1_ref / q8_K_ref (ggml-quants.c, exported by
    libggml-base); also compared here with ggml-cpu's run-time quantize_row_q8_* (SIMD) and the
    number of differing blocks printed to MANIFEST.txt (information, not a test);
  - weights: ggml_quantize_chunk (F16/BF16 too) on N(0, 0.02) rows;
  - "generic": ggml-cpu's ggml_vec_dot_<w>_<a>_generic, the scalar fallback lowbit's reference
    kernels transcribe (for F32/F16/BF16, which have no exported scalar version, a numpy
    transcription of vec.cpp's scalar loop: f32 products summed sequentially in f64);
    (observed with llama-cpp-python 0.3.36: its ggml_vec_dot_q5_0_q8_0_generic misses the
    exact value by far, as if the negative 5-bit quants were read as unsigned bytes; x86
    builds never call it, and the C test reports rather than fails on a _generic that is off)
  - "simd": the vec_dot of ggml_get_type_traits_cpu(type), what llama.cpp runs on this CPU;
  - "exact": the dot of llama.cpp's dequantized weights with the dequantized activations
    (f16 d times q; Q8_K: f32 d times q), summed exactly (math.fsum of exact f64 products);
  - "corr": for Q8_1 pairs the vec_dot uses the block's stored sum s = f16(d * sum q), not
    sum(f16(d) * q): corr = sum over blocks of m * (s - f16(d) * sum q), exact;
  - "mag": sum |w_i a_i|, where for types with a minimum the weight is split into its scale
    part and its minimum part (dequantized with the other field zeroed) and both count:
    rounding errors scale with those, not with a cancelled w_i.

Activation rows: sizes 32, 64, 96, 256, 288, 512, 4096, 11008 of N(0, 1) with a few 20x
outliers (vec_dot cases), plus quantizer-only rows: zeros, exact rounding ties (both signs,
positive and negative max), one outlier, tiny values, values whose Q8_0 scale overflows f16.

File layouts (little-endian):
  acts.bin: char[8] "LBVDACT1", u32 n_rows, u32 0, char[112] oracle          (header 128)
            n_rows x {char[24] label, u32 n, u32 flags (1 = a vec_dot row)}
            per row: f32 x[n]; Q8_0 bytes (n/32*34); Q8_1 bytes (n/32*36);
                     Q8_K bytes (n/256*292, none when n % 256 != 0)
  <TYPE>.bin: char[8] "LBVDGLD1", u32 wtype, u32 atype, u32 n_cases, u32 generic_is_ggml,
            char[16] name, char[88] oracle                                   (header 128)
            n_cases x {u32 n, u32 act_row, f32 generic, f32 simd, f64 exact, f64 corr, f64 mag}
            the cases' weight rows, concatenated

Usage: python3 tests/golden/make_vec_dot_golden.py [--out DIR]
"""

import argparse
import ctypes
import hashlib
import math
import os
import struct
import sys

import numpy as np

import gguf
from gguf import GGMLQuantizationType as T

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_dequant_golden import Ggml  # noqa: E402

SEED = 20250612
SIZES = [32, 64, 96, 256, 288, 512, 4096, 11008]
Q8_0, Q8_1, Q8_K = int(T.Q8_0), int(T.Q8_1), int(T.Q8_K)
ACT_SIZES = {Q8_0: (32, 34), Q8_1: (32, 36), Q8_K: (256, 292)}

# weight type -> (activation type, ggml generic symbol or None, [(d offset, min offset)] of min types)
PAIRS = {
    T.F32: (int(T.F32), None, None),
    T.F16: (int(T.F16), None, None),
    T.BF16: (int(T.BF16), None, None),
    T.Q4_0: (Q8_0, "ggml_vec_dot_q4_0_q8_0_generic", None),
    T.Q4_1: (Q8_1, "ggml_vec_dot_q4_1_q8_1_generic", (0, 2)),
    T.Q5_0: (Q8_0, "ggml_vec_dot_q5_0_q8_0_generic", None),
    T.Q5_1: (Q8_1, "ggml_vec_dot_q5_1_q8_1_generic", (0, 2)),
    T.Q8_0: (Q8_0, "ggml_vec_dot_q8_0_q8_0_generic", None),
    T.Q2_K: (Q8_K, "ggml_vec_dot_q2_K_q8_K_generic", (80, 82)),
    T.Q3_K: (Q8_K, "ggml_vec_dot_q3_K_q8_K_generic", None),
    T.Q4_K: (Q8_K, "ggml_vec_dot_q4_K_q8_K_generic", (0, 2)),
    T.Q5_K: (Q8_K, "ggml_vec_dot_q5_K_q8_K_generic", (0, 2)),
    T.Q6_K: (Q8_K, "ggml_vec_dot_q6_K_q8_K_generic", None),
    T.IQ4_NL: (Q8_0, "ggml_vec_dot_iq4_nl_q8_0_generic", None),
    T.IQ4_XS: (Q8_K, "ggml_vec_dot_iq4_xs_q8_K_generic", None),
}

VEC_DOT = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ctypes.c_void_p,
                           ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)


class TypeTraitsCpu(ctypes.Structure):
    """struct ggml_type_traits_cpu (ggml-cpu.h)."""
    _fields_ = [("from_float", ctypes.c_void_p), ("vec_dot", ctypes.c_void_p), ("vec_dot_type", ctypes.c_int),
                ("nrows", ctypes.c_int64)]


class GgmlCpu:
    def __init__(self, base):
        libdir = os.path.dirname(base.path)
        self.lib = ctypes.CDLL(os.path.join(libdir, "libggml-cpu.so"))
        self.lib.ggml_cpu_init.restype = None
        self.lib.ggml_cpu_init()
        self.lib.ggml_get_type_traits_cpu.restype = ctypes.POINTER(TypeTraitsCpu)
        self.lib.ggml_get_type_traits_cpu.argtypes = [ctypes.c_int]
        for name in ("quantize_row_q8_0", "quantize_row_q8_1", "quantize_row_q8_K"):
            fn = getattr(self.lib, name)
            fn.restype = None
            fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]

    def traits(self, t):
        return self.lib.ggml_get_type_traits_cpu(int(t)).contents

    def simd(self, t):
        return VEC_DOT(self.traits(t).vec_dot)

    def generic(self, name):
        return VEC_DOT(ctypes.cast(getattr(self.lib, name), ctypes.c_void_p).value)


def call_dot(fn, n, w, a):
    out = ctypes.c_float(0)
    w = np.ascontiguousarray(w)
    a = np.ascontiguousarray(a)
    fn(n, ctypes.byref(out), 0, w.ctypes.data, 0, a.ctypes.data, 0, 1)
    return np.float32(out.value)


def act_quantize(base, atype, x, fn_name=None, lib=None):
    bs, ts = ACT_SIZES[atype]
    out = np.zeros(x.size // bs * ts, dtype=np.uint8)  # zeroed: ggml leaves Q8_K bsums of a zero block unwritten
    name = fn_name or {Q8_0: "quantize_row_q8_0_ref", Q8_1: "quantize_row_q8_1_ref", Q8_K: "quantize_row_q8_K_ref"}[atype]
    fn = getattr(lib or base.lib, name)
    fn.restype = None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
    x = np.ascontiguousarray(x, dtype=np.float32)
    fn(x.ctypes.data, out.ctypes.data, x.size)
    return out


def act_dequant(atype, raw, x):
    """Dequantized activations (f64) and, for Q8_1, per-block (f16 d, s, sum q)."""
    if atype == int(T.F32):
        return x.astype(np.float64), None
    if atype == int(T.F16):
        return x.astype(np.float16).astype(np.float64), None
    if atype == int(T.BF16):
        b = (x.view(np.uint32).astype(np.uint64) + 0x7fff + ((x.view(np.uint32) >> 16) & 1)) >> 16 << 16
        return b.astype(np.uint32).view(np.float32).astype(np.float64), None
    bs, ts = ACT_SIZES[atype]
    blk = raw.reshape(-1, ts)
    if atype == Q8_K:
        d = blk[:, 0:4].copy().view(np.float32).reshape(-1).astype(np.float64)
        q = blk[:, 4:260].copy().view(np.int8).astype(np.float64)
        return (d[:, None] * q).reshape(-1), None
    d = blk[:, 0:2].copy().view(np.float16).reshape(-1).astype(np.float64)
    off = 2 if atype == Q8_0 else 4
    q = blk[:, off:off + 32].copy().view(np.int8).astype(np.float64)
    extra = None
    if atype == Q8_1:
        s = blk[:, 2:4].copy().view(np.float16).reshape(-1).astype(np.float64)
        extra = (d, s, q.sum(axis=1))
    return (d[:, None] * q).reshape(-1), extra


def convert_act(base, atype, x):
    """The activation row as the vec_dot_type's bytes (what llama.cpp's from_float makes)."""
    if atype == int(T.F32):
        return x.view(np.uint8).copy()
    if atype in (int(T.F16), int(T.BF16)):
        return base.quantize(atype, x.reshape(1, -1))
    return act_quantize(base, atype, x)


def scalar_float_dot(wtype, w_raw, a_raw):
    """vec.cpp's scalar ggml_vec_dot_f32/f16/bf16: f32 products, sequential f64 sum."""
    if wtype == T.F32:
        xw, xa = w_raw.view(np.float32), a_raw.view(np.float32)
    elif wtype == T.F16:
        xw, xa = w_raw.view(np.float16).astype(np.float32), a_raw.view(np.float16).astype(np.float32)
    else:
        xw = (w_raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        xa = (a_raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
    prod = (xw * xa).astype(np.float64)
    return np.float32(np.add.accumulate(prod)[-1])


def weight_parts(base, wtype, raw, mins):
    """(dequantized w, scale part, minimum part) as f64."""
    if wtype == T.F32:
        w = raw.view(np.float32).astype(np.float64)
    elif wtype == T.F16:
        w = raw.view(np.float16).astype(np.float64)
    elif wtype == T.BF16:
        w = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    else:
        w = base.dequantize(wtype, raw).astype(np.float64)
    if not mins:
        return w, np.abs(w), np.zeros_like(w)
    _, ts = gguf.GGML_QUANT_SIZES[wtype]
    d_off, m_off = mins
    no_min = raw.reshape(-1, ts).copy()
    no_min[:, m_off:m_off + 2] = 0
    no_d = raw.reshape(-1, ts).copy()
    no_d[:, d_off:d_off + 2] = 0
    sp = base.dequantize(wtype, no_min.reshape(-1)).astype(np.float64)
    mp = base.dequantize(wtype, no_d.reshape(-1)).astype(np.float64)
    return w, np.abs(sp), np.abs(mp)


def act_rows(rng):
    rows = []
    for n in SIZES:
        x = rng.normal(0, 1, n)
        for k in rng.choice(n, size=max(1, n // 256), replace=False):
            x[k] *= 20.0  # activation outliers, as LLM residual streams have
        rows.append((f"normal_{n}", x, 1))
    n = 256
    rows.append(("zeros", np.zeros(n), 0))
    ties = (np.arange(n) % 64 - 32) + 0.5  # with amax = 127: d = 1, so every x/d is a tie
    ties[0], ties[100] = 127.0, -126.5
    rows.append(("ties_pos_max", ties, 0))
    t2 = -ties
    rows.append(("ties_neg_max", t2, 0))
    x = rng.normal(0, 0.01, n)
    x[5] = -1000.0
    rows.append(("outlier", x, 0))
    rows.append(("tiny", rng.normal(0, 1e-30, n), 0))
    rows.append(("f16_overflow", rng.uniform(-1e7, 1e7, n), 0))
    rows.append(("constant", np.full(n, 0.3), 0))
    return [(label, x.astype(np.float32), flag) for label, x, flag in rows]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "vec_dot"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    base = Ggml()
    cpu = GgmlCpu(base)
    oracle = base.oracle()
    rng = np.random.default_rng(SEED)
    manifest = ["# file  bytes  sha256[:16]  notes", "# written by tests/golden/make_vec_dot_golden.py, " + oracle]

    # ---- activations ----
    rows = act_rows(rng)
    hdr = b"LBVDACT1" + struct.pack("<2I", len(rows), 0) + oracle.encode().ljust(112, b"\0")[:112]
    recs, body = b"", b""
    qacts = []  # per row: {atype: bytes}
    simd_diff = {Q8_0: 0, Q8_1: 0, Q8_K: 0}
    for label, x, flag in rows:
        recs += label.encode().ljust(24, b"\0")[:24] + struct.pack("<2I", x.size, flag)
        q = {}
        for at in (Q8_0, Q8_1, Q8_K):
            bs, ts = ACT_SIZES[at]
            if x.size % bs:
                q[at] = np.zeros(0, dtype=np.uint8)
                continue
            q[at] = act_quantize(base, at, x)
            rt = act_quantize(base, at, x, fn_name={Q8_0: "quantize_row_q8_0", Q8_1: "quantize_row_q8_1",
                                                    Q8_K: "quantize_row_q8_K"}[at], lib=cpu.lib)
            if at == Q8_K and not np.any(x):
                rt = q[at]  # bsums of a zero block are unwritten garbage in both
            simd_diff[at] += int(np.sum(np.any(rt.reshape(-1, ts) != q[at].reshape(-1, ts), axis=1)))
        qacts.append(q)
        body += x.astype("<f4").tobytes() + q[Q8_0].tobytes() + q[Q8_1].tobytes() + q[Q8_K].tobytes()
    data = hdr + recs + body
    with open(os.path.join(args.out, "acts.bin"), "wb") as f:
        f.write(data)
    manifest.append(f"acts.bin {len(data)} {hashlib.sha256(data).hexdigest()[:16]} {len(rows)} rows; blocks where "
                    f"ggml-cpu's run-time quantize_row_q8_* differ from the _ref ones: " +
                    " ".join(f"{gguf.GGMLQuantizationType(k).name}={v}" for k, v in simd_diff.items()))
    print(manifest[-1])

    # ---- weight types ----
    for wtype, (atype, gname, mins) in PAIRS.items():
        tr = cpu.traits(wtype)
        assert tr.vec_dot_type == atype, (wtype.name, tr.vec_dot_type, atype)
        simd = cpu.simd(wtype)
        generic = cpu.generic(gname) if gname else None
        bs = gguf.GGML_QUANT_SIZES[wtype][0]
        abs_ = ACT_SIZES.get(atype, (1, 0))[0]
        cases, wbytes = [], []
        worst = {"generic": 0.0, "simd": 0.0, "exact": 0.0}
        n_same_generic = 0
        for ri, (label, x, flag) in enumerate(rows):
            n = x.size
            if not flag or n % bs or n % abs_:
                continue
            wrow = rng.normal(0, 0.02, n).astype(np.float32)
            raw = base.quantize(wtype, wrow.reshape(1, n))
            a_raw = convert_act(base, atype, x)
            if atype in ACT_SIZES:
                assert np.array_equal(a_raw, qacts[ri][atype])
            g = call_dot(generic, n, raw, a_raw) if generic else scalar_float_dot(wtype, raw, a_raw)
            s = call_dot(simd, n, raw, a_raw)
            w, sp, mp = weight_parts(base, wtype, raw, mins)
            a, extra = act_dequant(atype, a_raw, x)
            exact = math.fsum((w * a).tolist())
            corr = 0.0
            if extra is not None:  # Q8_1: m * (s - d * sum q) per block
                d, sblk, qsum = extra
                m = raw.reshape(-1, gguf.GGML_QUANT_SIZES[wtype][1])[:, 2:4].copy().view(np.float16)
                m = m.reshape(-1).astype(np.float64)
                corr = math.fsum((m * sblk).tolist()) - math.fsum((m * d * qsum).tolist())
            mag = math.fsum(((sp + mp) * np.abs(a)).tolist())
            cases.append(struct.pack("<2I2f3d", n, ri, g, s, exact, corr, mag))
            wbytes.append(raw)
            n_same_generic += int(np.float32(g).view(np.uint32) == np.float32(s).view(np.uint32))
            for k, v in (("generic", g), ("simd", s)):
                worst[k] = max(worst[k], abs(float(v) - (exact + corr)) / mag if mag else 0.0)
            worst["exact"] = max(worst["exact"], abs(float(g) - float(s)) / mag if mag else 0.0)
        name = wtype.name
        hdr = b"LBVDGLD1" + struct.pack("<4I", int(wtype), atype, len(cases), 1 if generic else 0)
        hdr += name.encode().ljust(16, b"\0")[:16]
        hdr += (oracle + ("" if generic else "; generic = numpy")).encode().ljust(88, b"\0")[:88]
        data = hdr + b"".join(cases) + b"".join(r.tobytes() for r in wbytes)
        with open(os.path.join(args.out, f"{name}.bin"), "wb") as f:
            f.write(data)
        manifest.append(f"{name}.bin {len(data)} {hashlib.sha256(data).hexdigest()[:16]} {len(cases)} cases; "
                        f"max |.-exact|/mag: generic {worst['generic']:.2e} simd {worst['simd']:.2e}; "
                        f"max |generic-simd|/mag {worst['exact']:.2e}, bit-equal {n_same_generic}/{len(cases)}")
        print(manifest[-1])
    with open(os.path.join(args.out, "MANIFEST.txt"), "w") as f:
        f.write("\n".join(manifest) + "\n")


if __name__ == "__main__":
    main()
