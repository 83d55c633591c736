#!/usr/bin/env python3
"""Run a .tflite model with LiteRT on raw samples; write the raw outputs; print a JSON summary.

QuantKit's interop check: every .tflite QuantKit writes must load in LiteRT (``ai-edge-litert`` from
PyPI) and give the outputs QuantKit expects. This script is the LiteRT side of that check.

Usage::

    /work/venv/tf/bin/python Tests/Interop/litert_run.py MODEL.tflite INPUT.bin OUTPUT.bin \\
        [--resolver ref|auto|builtin|builtin_without_default_delegates] [--limit N] \\
        [--expect GOLDEN.bin] [--threads 1]

What it does:

* Loads MODEL with ``ai_edge_litert.interpreter.Interpreter(model_path=...,
  experimental_op_resolver_type=...)``. ``ref`` is ``OpResolverType.BUILTIN_REF`` (the reference
  kernels, deterministic on every CPU: the bit-exact target), ``auto`` is the default (XNNPACK
  delegate), ``builtin`` / ``builtin_without_default_delegates`` the optimized kernels without
  XNNPACK. Loading runs LiteRT's flatbuffer verifier, so a malformed file fails here.
* INPUT is raw little-endian data: N samples of the model's (single) input tensor, each of exactly
  ``prod(shape) * itemsize`` bytes in the input's dtype (float32 for a float input, int8 for an int8
  input, ...). N is the file size divided by the sample size; a remainder is an error. The batch
  dimension must be 1 (no resizing is done).
* Runs the samples one at a time and writes, for each sample, the raw bytes of every output tensor
  in output order to OUTPUT (for one output of shape [1, 10] float32: N × 40 bytes).
* With ``--quantize-input``, INPUT holds float32 samples whatever the model takes: for an int8 (or
  uint8) input they are quantized with the input's scale and zero point as QuantKit's interpreter
  quantizes inputs (``x / scale + zero_point``, rounded half away from zero, clamped);
  ``--write-input FILE`` writes the bytes fed to the model, so that ``quantkit run`` can be given the
  very same samples (the QAT interop check does this).
* Prints one JSON object: model, resolver, input and output details (name, shape, dtype,
  quantization), signature keys, samples run, the output file and its SHA-256, seconds per sample,
  and with ``--expect`` a comparison against a reference output file of the same layout
  (``identical``, ``differing_values``, ``max_abs_diff``, ``argmax_disagreements`` when the output
  is [1, C]).

Exit status: 0 on success; 1 when ``--expect`` was given and the outputs differ; 2 on a usage or
load error (the JSON then has an ``error`` field).

Example (the golden outputs in ../shared/golden were made with ``ref``)::

    python litert_run.py seed_int8.tflite ../shared/golden/seed_int8.input.i8.bin /tmp/out.bin \\
        --resolver ref --expect ../shared/golden/seed_int8.ref.i8.bin
"""

import argparse
import hashlib
import json
import os
import sys
import time

import numpy as np

RESOLVERS = {
    "ref": "BUILTIN_REF",
    "auto": "AUTO",
    "builtin": "BUILTIN",
    "builtin_without_default_delegates": "BUILTIN_WITHOUT_DEFAULT_DELEGATES",
}


def describe(detail):
    """Name, index, shape, dtype and (the first few) quantization parameters of a tensor."""
    q = detail.get("quantization_parameters") or {}
    scales = q.get("scales")
    zero_points = q.get("zero_points")
    return {
        "name": detail["name"],
        "index": int(detail["index"]),
        "shape": [int(d) for d in detail["shape"]],
        "dtype": np.dtype(detail["dtype"]).name,
        "scales": [float(s) for s in scales[:4]] if scales is not None and len(scales) else [],
        "zero_points": [int(z) for z in zero_points[:4]] if zero_points is not None and len(zero_points) else [],
    }


def compare(actual, expected, dtype, output_shape):
    """How the raw outputs `actual` differ from the reference `expected` (same layout)."""
    a = np.frombuffer(actual, dtype=dtype)
    e = np.frombuffer(expected, dtype=dtype)
    if a.size != e.size:
        return {"identical": False, "error": f"sizes differ: {a.size} vs {e.size} values"}
    wide_a, wide_e = a.astype(np.float64), e.astype(np.float64)
    # Compare bit patterns: NaN equals the same NaN, and -0.0 differs from +0.0.
    bits = np.dtype(f"<u{dtype.itemsize}")
    differing = int(np.count_nonzero(a.view(bits) != e.view(bits)))
    result = {
        "identical": bool(actual == expected),
        "differing_values": differing,
        "max_abs_diff": float(np.max(np.abs(wide_a - wide_e))) if a.size else 0.0,
    }
    if len(output_shape) == 2 and output_shape[0] == 1 and output_shape[1] > 1 and a.size % output_shape[1] == 0:
        rows = output_shape[1]
        result["argmax_disagreements"] = int(np.count_nonzero(
            np.argmax(wide_a.reshape(-1, rows), axis=1) != np.argmax(wide_e.reshape(-1, rows), axis=1)))
    return result


def quantized_input(raw, detail, limit, per_sample):
    """Float32 samples as the model's input takes them (QuantKit's input quantization for integer inputs)."""
    x = np.frombuffer(raw, dtype="<f4")
    if limit is not None:
        x = x[:limit * per_sample]
    dtype = np.dtype(detail["dtype"])
    if dtype == np.float32:
        return x.astype("<f4").tobytes()
    scale, zero_point = detail["quantization"]
    if scale == 0:
        raise ValueError("the integer input has no quantization parameters")
    info = np.iinfo(dtype)
    v = x / np.float32(scale) + np.float32(zero_point)      # float32, as QuantKit computes it
    q = np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))   # half away from zero
    return np.clip(q, info.min, info.max).astype(dtype).tobytes()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("input", help="raw little-endian samples of the input tensor")
    parser.add_argument("output", help="where to write the raw outputs")
    parser.add_argument("--resolver", choices=sorted(RESOLVERS), default="ref")
    parser.add_argument("--limit", type=int, default=None, help="run at most this many samples")
    parser.add_argument("--expect", default=None, help="reference output file to compare with")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quantize-input", action="store_true",
                        help="INPUT is float32; quantize it with the model input's parameters when that is integer")
    parser.add_argument("--write-input", default=None, help="write the input bytes fed to the model here")
    args = parser.parse_args()

    summary = {"model": os.path.abspath(args.model), "resolver": args.resolver}
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        interpreter = Interpreter(
            model_path=args.model,
            experimental_op_resolver_type=getattr(OpResolverType, RESOLVERS[args.resolver]),
            num_threads=args.threads,
        )
        interpreter.allocate_tensors()
        inputs = interpreter.get_input_details()
        outputs = interpreter.get_output_details()
        summary["inputs"] = [describe(d) for d in inputs]
        summary["outputs"] = [describe(d) for d in outputs]
        summary["signatures"] = sorted(interpreter.get_signature_list().keys())
        if len(inputs) != 1:
            raise ValueError(f"the model has {len(inputs)} inputs; this script feeds exactly one")
        detail = inputs[0]
        shape = [int(d) for d in detail["shape"]]
        if not shape or shape[0] != 1:
            raise ValueError(f"input shape {shape} does not have batch 1")
        dtype = np.dtype(detail["dtype"]).newbyteorder("<")
        sample_bytes = int(np.prod(shape)) * dtype.itemsize
        raw = open(args.input, "rb").read()
        if args.quantize_input:
            raw = quantized_input(raw, detail, args.limit, int(np.prod(shape)))
        if args.write_input:
            with open(args.write_input, "wb") as f:
                f.write(raw)
        if sample_bytes == 0 or len(raw) % sample_bytes:
            raise ValueError(f"{args.input} has {len(raw)} bytes, not a whole number of {sample_bytes}-byte samples")
        count = len(raw) // sample_bytes
        if args.limit is not None:
            count = min(count, args.limit)
        samples = np.frombuffer(raw, dtype=dtype, count=count * int(np.prod(shape))).reshape([count] + shape[1:])
    except Exception as error:  # a load failure is a result: report it
        summary["error"] = f"{type(error).__name__}: {error}"
        print(json.dumps(summary, indent=1))
        return 2

    chunks = []
    start = time.perf_counter()
    for k in range(count):
        interpreter.set_tensor(detail["index"], samples[k:k + 1])
        interpreter.invoke()
        for out in outputs:
            value = interpreter.get_tensor(out["index"])
            chunks.append(np.ascontiguousarray(value.astype(value.dtype.newbyteorder("<"), copy=False)).tobytes())
    elapsed = time.perf_counter() - start
    data = b"".join(chunks)
    with open(args.output, "wb") as f:
        f.write(data)

    summary.update({
        "samples": count,
        "output_file": os.path.abspath(args.output),
        "output_bytes": len(data),
        "output_sha256": hashlib.sha256(data).hexdigest(),
        "seconds_per_sample": elapsed / count if count else 0.0,
    })
    status = 0
    if args.expect:
        expected = open(args.expect, "rb").read()
        if args.limit is not None:
            expected = expected[:len(data)]
        out_dtype = np.dtype(outputs[0]["dtype"]).newbyteorder("<")
        if len(outputs) != 1:
            out_dtype = np.dtype(np.uint8)  # several outputs interleaved: compare bytes
        summary["expect"] = os.path.abspath(args.expect)
        summary["comparison"] = compare(data, expected, out_dtype, [int(d) for d in outputs[0]["shape"]])
        status = 0 if summary["comparison"]["identical"] else 1
    print(json.dumps(summary, indent=1))
    return status


if __name__ == "__main__":
    sys.exit(main())
