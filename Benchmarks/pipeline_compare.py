#!/usr/bin/env python3
"""QuantKit's seed pipeline next to TensorFlow's, as one markdown table.

    python3 Benchmarks/pipeline_compare.py QUANTKIT_REPORT.json TF_RESULTS.json

QUANTKIT_REPORT.json is the report.json that `quantkit demo` writes; TF_RESULTS.json is the
results.json of ../shared/anchors/tf_seed_pipeline.py (TensorFlow + TFMOT + LiteRT), or the
recorded ../shared/anchors/tf_seed_results.json. Latency: QuantKit's median per inference at batch 1
on one thread (fast kernels); TensorFlow's is LiteRT's mean invoke time over 2,000 runs of one image
on one thread (XNNPACK), as that script measures it. Standard library only.
"""
import json
import sys

PAIRS = [  # QuantKit variant name, TF results key, row title
    ("float32", "ptq_float", "float32"),
    ("dynamic range", "ptq_dynamic", "dynamic range"),
    ("int8 (PTQ)", "ptq_int8", "int8, PTQ (int8 I/O)"),
    ("float16", "ptq_float16", "float16"),
    ("int8 (QAT)", "qat_finetune", "int8, QAT fine-tuning (1 epoch)"),
]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    qk = json.load(open(sys.argv[1]))
    tf = json.load(open(sys.argv[2]))
    variants = {v["name"]: v for v in qk["variants"]}
    qk_float = variants["float32"]["accuracy"]
    tf_float = tf["ptq_float"]["test_acc"]
    print("| model | QuantKit size | TF size | QuantKit accuracy (change) | TF accuracy (change) "
          "| QuantKit latency ms | LiteRT latency ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, key, title in PAIRS:
        v, t = variants.get(name), tf.get(key)
        if v is None or t is None:
            continue
        print(f"| {title} | {v['file_bytes']:,} B | {t['bytes']:,} B "
              f"| {100 * v['accuracy']:.2f}% ({100 * (v['accuracy'] - qk_float):+.2f}) "
              f"| {100 * t['test_acc']:.2f}% ({100 * (t['test_acc'] - tf_float):+.2f}) "
              f"| {v['latency_ms']['median']:.3f} | {t['invoke_ms']:.3f} |")
    qk_epochs = [e["seconds"] + e.get("validation_seconds", 0) for e in qk.get("float_training", [])]
    tf_epochs = tf.get("float_train", {}).get("epoch_s", [])
    if qk_epochs and tf_epochs:
        med = lambda xs: sorted(xs)[len(xs) // 2] if len(xs) % 2 else sum(sorted(xs)[len(xs) // 2 - 1:len(xs) // 2 + 1]) / 2
        print(f"\nMedian float epoch (training + validation): QuantKit {med(qk_epochs):.1f} s, "
              f"Keras {med(tf_epochs):.1f} s ({med(qk_epochs) / med(tf_epochs):.2f}x).")


if __name__ == "__main__":
    main()
