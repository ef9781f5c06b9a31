#!/usr/bin/env python3
"""Writes the small reader fixtures in tests/golden/io/ with the PyPI gguf, safetensors and
torch packages (independent writers, so the C readers are checked against other tools):

  all_types.gguf   GGUF v3 (gguf.GGUFWriter), general.alignment = 64, one key of every
                   metadata value type, arrays of every element type incl. strings, and
                   F32 / F16 / Q8_0 / I32 tensors of rank 1, 2 and 4.
  sharded/         config.json, two safetensors shards (safetensors.torch.save_file) with
                   every dtype lowbit reads plus a rank-0 and an empty tensor, and
                   model.safetensors.index.json.

The expected values hard-coded in tests/io/test_gguf_read.c and test_safetensors.c are the
formulas below. Run from anywhere: python3 tests/golden/io/gen_io_fixtures.py
"""
import json
import os

import numpy as np
import torch
from gguf import GGMLQuantizationType, GGUFValueType, GGUFWriter
from gguf.quants import quantize
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))


def write_gguf(path):
    w = GGUFWriter(path, arch="test")  # writes general.architecture = "test", version 3
    w.add_custom_alignment(64)
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_float32("test.f32", 0.15625)
    w.add_bool("test.bool_t", True)
    w.add_bool("test.bool_f", False)
    w.add_string("test.str", "h\u00e9llo\nworld")
    w.add_key_value("test.str_empty", "", GGUFValueType.STRING)
    w.add_uint64("test.u64", 2**63 + 5)
    w.add_int64("test.i64", -(2**62))
    w.add_float64("test.f64", 3.141592653589793)
    arrays = [
        ("u8", GGUFValueType.UINT8, [1, 2, 255]),
        ("i8", GGUFValueType.INT8, [-128, 0, 127]),
        ("u16", GGUFValueType.UINT16, [0, 65535]),
        ("i16", GGUFValueType.INT16, [-32768, 32767]),
        ("u32", GGUFValueType.UINT32, [4294967295, 1]),
        ("i32", GGUFValueType.INT32, [-1, 0, 7]),
        ("f32", GGUFValueType.FLOAT32, [0.5, -1.25]),
        ("bool", GGUFValueType.BOOL, [True, False, True]),
        ("u64", GGUFValueType.UINT64, [2**64 - 1, 3]),
        ("i64", GGUFValueType.INT64, [-(2**63), 2**63 - 1]),
        ("f64", GGUFValueType.FLOAT64, [1e300, -2.5]),
        ("str", GGUFValueType.STRING, ["alpha", "", "\u00fcn\u00efcode", "tab\tsep"]),
    ]
    for name, t, vals in arrays:
        w.add_key_value(f"test.arr_{name}", vals, GGUFValueType.ARRAY, sub_type=t)
    w.add_array("test.vocab", [f"tok{i}" for i in range(1000)])

    w.add_tensor("t.f32_2d", (np.arange(15, dtype=np.float32) * 0.5 - 3).reshape(3, 5))
    w.add_tensor("t.f16_1d", np.array([0, 1, -2, 0.5, 65504, 2**-14, -0.0], dtype=np.float16))
    w.add_tensor("t.f32_4d", np.arange(12, dtype=np.float32).reshape(2, 1, 3, 2))
    q = quantize((np.arange(128, dtype=np.float32) / 8 - 8).reshape(2, 64), GGMLQuantizationType.Q8_0)
    w.add_tensor("t.q8_0", q, raw_dtype=GGMLQuantizationType.Q8_0)
    w.add_tensor("t.i32", np.array([1, -2, 3, -4], dtype=np.int32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_sharded(d):
    os.makedirs(d, exist_ok=True)
    shard1 = {
        "a.f32": (torch.arange(6, dtype=torch.float32) * 0.25 - 1).reshape(2, 3),
        "b.bf16": torch.tensor([1.0, -2.0, 0.5, 3.140625], dtype=torch.bfloat16),
        "c.f16": torch.tensor([[1.0, -1.0], [0.25, 1024.0]], dtype=torch.float16),
        "d.i64": torch.tensor([-(2**40), 0, 2**40 + 1], dtype=torch.int64),
        "e.scalar": torch.tensor(42.5, dtype=torch.float32),
    }
    shard2 = {
        "f.f8e4m3": torch.tensor([1.0, -2.0, 0.5, 448.0]).to(torch.float8_e4m3fn),
        "g.f8e5m2": torch.tensor([1.0, -2.0, 0.5, 57344.0]).to(torch.float8_e5m2),
        "h.i8": torch.tensor([-128, -1, 0, 1, 127], dtype=torch.int8),
        "i.i16": torch.tensor([-300, 300], dtype=torch.int16),
        "j.i32": torch.tensor([-70000, 70000], dtype=torch.int32),
        "k.f64": torch.tensor([1e-300, -0.1], dtype=torch.float64),
        "l.empty": torch.zeros((0, 3), dtype=torch.float32),
    }
    files = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    save_file(shard1, os.path.join(d, files[0]), metadata={"format": "pt", "note": "shard one"})
    save_file(shard2, os.path.join(d, files[1]), metadata={"format": "pt", "note": "shard two"})
    total = sum(t.numel() * t.element_size() for t in list(shard1.values()) + list(shard2.values()))
    weight_map = {k: files[0] for k in shard1}
    weight_map.update({k: files[1] for k in shard2})
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}, f, indent=2)
    config = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": 8,
        "num_hidden_layers": 1,
        "vocab_size": 16,
    }
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    for name, t in list(shard1.items()) + list(shard2.items()):
        raw = t.reshape(-1).contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b""
        print(f"{name:10s} {str(t.dtype):22s} {list(t.shape)} bytes {raw.hex()}")


if __name__ == "__main__":
    write_gguf(os.path.join(HERE, "all_types.gguf"))
    write_sharded(os.path.join(HERE, "sharded"))
