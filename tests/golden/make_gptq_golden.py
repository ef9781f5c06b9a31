#!/usr/bin/env python3
"""Writes tests/golden/gptq/: small GPTQ problems and their solutions by an independent numpy
GPTQ, for tests/algo/test_gptq.c.

The solver is written from the paper (Frantar et al. 2022, "GPTQ", Algorithm 1 and section 3's
text), not from any implementation, and deliberately differs from lowbit's C in form:
  - float64 throughout (lowbit propagates errors in float32);
  - one column at a time, no lazy blocks (Algorithm 1 without the batching; the paper shows the
    lazy batch update computes the same thing, so block_size is a parameter of the C run only);
  - the inverse Hessian factor by numpy (Cholesky, inverse, Cholesky of the inverse).
Conventions it shares with lowbit because they define the problem, not the method:
  - H = X^T X (the paper's 2 X X^T; GPTQ is invariant to the factor), dead columns (H_jj == 0)
    get H_jj = 1 and W[:, j] = 0, damping lambda = 0.01 * mean(diag H) after that fix;
  - act_order: columns by decreasing H_jj after the dead fix, ties by column (stable sort);
  - INT-N grid as AutoGPTQ's Quantizer.find_params in float32 (range [min(xmin,0), max(xmax,0)],
    sym: +-max|x| with zero (maxq+1)/2, asym: zero = round(-xmin/scale), round half to even),
    then the scale rounded to float16 (what a GPTQ checkpoint stores) and used as such;
  - groups: without static_groups a group is fitted when the walk reaches its first column, on
    the current (error-updated) values of its columns; with act_order that makes groups of
    consecutive walk positions (g_idx[col] = position // group_size); static_groups fits all
    groups on the dead-zeroed weights first, contiguous in column order.

Inputs (seeded): X has correlated columns (a random mixing of independent ones), a few
outlier columns (x30) and one dead (all-zero) column; the 24x96 set has fewer calibration rows
(64) than columns, so its H is singular before damping.

Files (little-endian):
  inputs.bin   per input set: W f32 [rows][cols], X f32 [n_tokens][cols]
  outputs.bin  per case: codes u8 [rows][cols], scales f32 [rows][n_groups], zeros u8
               [rows][n_groups], g_idx i32 [cols], Q f32 [rows][cols] (dequantized, column order)
  cases.json   shapes, byte offsets into those files, parameters, loss (sum of
               (w-q)^2 / U_jj^2 / 2), n_dead

Usage: python3 tests/golden/make_gptq_golden.py [--out DIR]
"""

import argparse
import json
import os

import numpy as np

SEED = 20250614

INPUTS = {
    # name: (rows, cols, n_tokens, outlier columns, dead column)
    "w24x96": (24, 96, 64, [5, 40, 77], 13),
    "w40x128": (40, 128, 256, [3, 64, 100, 101], 90),
}

CASES = [
    # name, input, bits, group_size, sym, act_order, static_groups, block_size
    ("int4_g32_sym", "w24x96", 4, 32, True, False, False, 128),
    ("int4_g32_asym_act", "w24x96", 4, 32, False, True, False, 32),
    ("int4_g48_sym_act_b32", "w24x96", 4, 48, True, True, False, 32),
    ("int3_gm1_asym_act", "w40x128", 3, -1, False, True, False, 32),
    ("int3_gm1_sym", "w40x128", 3, -1, True, False, False, 128),
    ("int4_g32_asym_static_act", "w40x128", 4, 32, False, True, True, 128),
    ("int4_g32_sym_b32", "w40x128", 4, 32, True, False, False, 32),
]


def make_input(rng, rows, cols, n_tokens, outliers, dead):
    z = rng.standard_normal((n_tokens, cols))
    mix = np.eye(cols) + 0.35 * rng.standard_normal((cols, cols)) / np.sqrt(cols)
    x = z @ mix
    x[:, outliers] *= 30.0
    x[:, dead] = 0.0
    w = rng.standard_normal((rows, cols)) * 0.05
    w[:, 7] *= 6.0  # one heavy weight column
    return w.astype(np.float32), x.astype(np.float32)


def f16_scale(scale):
    """The float32 scale as float16 stores it; outside f16's range it keeps the nearest end."""
    with np.errstate(over="ignore"):
        s = np.float32(np.float16(scale))
    if s == 0:
        s = np.float32(2.0 ** -24)
    if np.isinf(s):
        s = np.float32(65504.0)
    return s


def fit_intn(vals, bits, sym):
    """AutoGPTQ find_params on one group, float32. Returns (f16 scale, zero)."""
    x = vals.astype(np.float32)
    maxq = np.float32(2 ** bits - 1)
    xmin = min(np.float32(0), x.min())
    xmax = max(np.float32(0), x.max())
    if sym:
        xmax = max(abs(xmin), xmax)
        if xmin < 0:
            xmin = -xmax
    if xmin == 0 and xmax == 0:
        xmin, xmax = np.float32(-1), np.float32(1)
    scale = np.float32((xmax - xmin) / maxq)
    zero = np.float32((maxq + 1) / 2) if sym else np.float32(np.rint(np.float32(-xmin / scale)))
    return f16_scale(scale), int(zero)


def quant(w, scale, zero, maxq):
    code = int(np.clip(np.rint(w / np.float64(scale)) + zero, 0, maxq))
    return code, float(np.float32(scale * np.float32(code - zero)))


def gptq(W, X, bits, gs, sym, act_order, static_groups):
    rows, cols = W.shape
    maxq = 2 ** bits - 1
    gs_eff = cols if gs == -1 else gs
    ng = cols // gs_eff
    W = W.astype(np.float64)
    Xd = X.astype(np.float64)
    H = Xd.T @ Xd
    dead = np.diag(H) == 0
    H[dead, dead] = 1.0
    W[:, dead] = 0.0

    scales = np.zeros((rows, ng), np.float32)
    zeros = np.zeros((rows, ng), np.uint8)
    if static_groups:
        for r in range(rows):
            for g in range(ng):
                scales[r, g], zeros[r, g] = fit_intn(W[r, g * gs_eff:(g + 1) * gs_eff], bits, sym)

    perm = np.argsort(-np.diag(H), kind="stable") if act_order else np.arange(cols)
    Hp = H[np.ix_(perm, perm)]
    Hp += 0.01 * np.mean(np.diag(Hp)) * np.eye(cols)
    L = np.linalg.cholesky(Hp)
    Linv = np.linalg.solve(L, np.eye(cols))
    Hinv = Linv.T @ Linv
    U = np.linalg.cholesky(Hinv).T  # upper, U^T U = Hinv

    if act_order and not static_groups:
        g_idx = np.empty(cols, np.int32)
        g_idx[perm] = np.arange(cols) // gs_eff
    else:
        g_idx = (np.arange(cols) // gs_eff).astype(np.int32)

    Wp = W[:, perm].copy()
    codes = np.zeros((rows, cols), np.uint8)
    Q = np.zeros((rows, cols), np.float32)
    loss = 0.0
    for j in range(cols):  # walk position j, column perm[j]
        c = perm[j]
        g = g_idx[c]
        if not static_groups and j % gs_eff == 0:
            members = np.sort(perm[j:j + gs_eff])  # the group's columns, fitted in column order
            pos = np.argsort(perm)[members]
            for r in range(rows):
                scales[r, g], zeros[r, g] = fit_intn(Wp[r, pos], bits, sym)
        for r in range(rows):
            w = Wp[r, j]
            code, q = quant(w, scales[r, g], int(zeros[r, g]), maxq)
            codes[r, c] = code
            Q[r, c] = q
            e = (w - q) / U[j, j]
            loss += e * e / 2
            Wp[r, j + 1:] -= e * U[j, j + 1:]
    return codes, scales, zeros, g_idx, Q, loss, int(dead.sum())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "gptq"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(SEED)

    inputs, manifest = {}, {"seed": SEED, "inputs": {}, "cases": []}
    blob = bytearray()
    for name, (rows, cols, n_tokens, outliers, dead) in INPUTS.items():
        w, x = make_input(rng, rows, cols, n_tokens, outliers, dead)
        inputs[name] = (w, x)
        manifest["inputs"][name] = {"rows": rows, "cols": cols, "n_tokens": n_tokens, "w_offset": len(blob),
                                    "x_offset": len(blob) + w.nbytes}
        blob += w.tobytes() + x.tobytes()
    with open(os.path.join(args.out, "inputs.bin"), "wb") as f:
        f.write(blob)

    out = bytearray()
    for name, inp, bits, gs, sym, act, static, block in CASES:
        w, x = inputs[inp]
        codes, scales, zeros, g_idx, Q, loss, n_dead = gptq(w, x, bits, gs, sym, act, static)
        entry = {"name": name, "input": inp, "bits": bits, "group_size": gs, "sym": sym, "act_order": act,
                 "static_groups": static, "block_size": block, "loss": loss, "n_dead": n_dead}
        for key, arr in (("codes", codes), ("scales", scales), ("zeros", zeros), ("g_idx", g_idx), ("q", Q)):
            entry[key + "_offset"] = len(out)
            out += np.ascontiguousarray(arr).tobytes()
        manifest["cases"].append(entry)
        print(f"{name}: loss {loss:.6g}, n_dead {n_dead}")
    with open(os.path.join(args.out, "outputs.bin"), "wb") as f:
        f.write(out)
    with open(os.path.join(args.out, "cases.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
