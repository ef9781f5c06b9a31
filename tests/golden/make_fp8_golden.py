#!/usr/bin/env python3
"""Writes tests/golden/fp8/torch_casts.bin: f32 inputs and the codes torch's own casts give,
x.to(torch.float8_e4m3fn) and x.to(torch.float8_e5m2) (round to nearest even; torch 2.15's e4m3fn cast
saturates overflow and inf to +-448, its e5m2 cast overflows to inf),
for tests/quant/test_fp8.c. Inputs (seeded): +-0, +-inf, NaN, every code's value, every
midpoint between adjacent codes of both formats and one f32 ulp either side, values past the
largest finite code, and random log-uniform magnitudes from 2^-24 to 2^18.

torch_casts.bin (little-endian): char[8] "LBFP8G01", u32 n, f32 x[n], u8 e4m3[n], u8 e5m2[n]

Usage: python3 tests/golden/make_fp8_golden.py [--out DIR]
"""

import argparse
import os
import struct

import numpy as np
import torch


def values_of(dtype):
    codes = torch.arange(256, dtype=torch.uint8).view(dtype).float().numpy().astype(np.float64)
    return codes[np.isfinite(codes)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "fp8"))
    args = ap.parse_args()
    rng = np.random.default_rng(1234)

    xs = [0.0, -0.0, np.inf, -np.inf, np.nan, 448.0, 449.0, 464.0, 465.0, 480.0, 57344.0, 61440.0, 61441.0, 1e9]
    for dtype in (torch.float8_e4m3fn, torch.float8_e5m2):
        v = np.unique(np.abs(values_of(dtype)))
        mids = (v[:-1] + v[1:]) / 2  # exact in f32: fp8 values have 4 significant bits at most
        xs += v.tolist() + mids.tolist()
        m32 = mids.astype(np.float32)
        xs += np.nextafter(m32, np.float32(np.inf)).tolist() + np.nextafter(m32, np.float32(0)).tolist()
    mags = np.exp2(rng.uniform(-24, 18, 2000))
    xs += mags.tolist()
    x = np.array(xs, dtype=np.float32)
    sign = np.where(rng.random(x.shape[0]) < 0.5, -1.0, 1.0).astype(np.float32)
    x = np.concatenate([x, x * sign])

    t = torch.from_numpy(x)
    e4 = t.to(torch.float8_e4m3fn).view(torch.uint8).numpy()
    e5 = t.to(torch.float8_e5m2).view(torch.uint8).numpy()

    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "torch_casts.bin"), "wb") as f:
        f.write(b"LBFP8G01" + struct.pack("<I", x.shape[0]))
        f.write(x.astype("<f4").tobytes() + e4.tobytes() + e5.tobytes())
    print(f"{x.shape[0]} values, torch {torch.__version__}")


if __name__ == "__main__":
    main()
