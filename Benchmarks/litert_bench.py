#!/usr/bin/env python3
"""Inference speed, QuantKit vs LiteRT, measured side by side in one run.

The LiteRT side of ``Benchmarks/inference_speed.sh`` and the driver of the whole comparison. Needs
``ai-edge-litert`` and numpy (the script's venv) and a release build of ``quantkit``.

Subcommands::

    litert_bench.py prepare-input MODEL OUT.bin [--data DIR]
        The 10,000 FashionMNIST test images as MODEL's input takes them (float32 pixel/255, or
        quantized with the input's scale and zero point: round half away from zero, clamped), raw
        little-endian, back to back: the same file feeds `quantkit run/bench --input` and LiteRT.

    litert_bench.py latency MODEL INPUT.bin [--threads 1] [--warmup 20] [--runs 200]
        Batch-1 latency under LiteRT's default path (XNNPACK): one JSON object with every run's ms.

    litert_bench.py throughput MODEL INPUT.bin [--batch 64] [--threads 2]
        One timed pass over every sample of INPUT in batches (resize_tensor_input), images/s.

    litert_bench.py suite --quantkit BIN --model SET:NAME:PATH ... [--rounds 5] [--write BENCHMARKS.md]
        The full comparison (see inference_speed.sh): for every model, alternating QuantKit and
        LiteRT rounds of batch-1 single-thread latency and of 2-thread throughput over the 10k test
        images, QuantKit's reference-kernel latency for context, and `quantkit run`'s peak memory
        on the int8 model; prints a Markdown table and writes it between the
        ``<!-- inference-speed:begin/end -->`` markers of the given file.

Timing policy, the same on both sides: a timed run is "copy the input in, invoke, copy the output
out" (QuantKit's `bench` times `Interpreter.run`, which does exactly that; here set_tensor +
invoke + get_tensor). Latency: per round, a fresh interpreter, ``--warmup`` untimed runs, then
``--runs`` timed runs of the first test image; medians over all rounds' runs. Throughput: per round,
a fresh interpreter and one timed pass over the 10,000 images (no warm-up: 157 batches make the first
batch's cost negligible); medians over the rounds. Model loading / preparation is never timed.
"""

import argparse
import datetime
import gc
import gzip
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

import numpy as np


def litert():
    from ai_edge_litert import interpreter as litert_interpreter
    return litert_interpreter


def litert_version():
    try:
        import importlib.metadata as md
        return md.version("ai-edge-litert")
    except Exception:  # noqa: BLE001
        return "?"


# ---------------------------------------------------------------- inputs

def load_test_images(data_dir):
    path = os.path.join(data_dir, "t10k-images-idx3-ubyte.gz")
    raw = gzip.open(path).read()
    magic, n, rows, cols = np.frombuffer(raw[:16], dtype=">u4")
    if magic != 2051:
        raise SystemExit(f"{path}: not an IDX image file (magic {magic})")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(int(n), int(rows), int(cols), 1)


def input_detail(model_path):
    it = litert().Interpreter(model_path=model_path)
    details = it.get_input_details()
    if len(details) != 1:
        raise SystemExit(f"{model_path}: {len(details)} inputs; the benchmark takes single-input models")
    return details[0]


def model_input(images, detail):
    """The images as the model's input: float32 pixel/255, or quantized with its parameters."""
    x = images.astype(np.float32) / np.float32(255)
    dtype = detail["dtype"]
    if dtype == np.float32:
        return x
    scale, zero_point = detail["quantization"]
    if not scale:
        raise SystemExit(f"input type {dtype} without quantization parameters")
    info = np.iinfo(dtype)
    q = x.astype(np.float64) / scale
    q = np.sign(q) * np.floor(np.abs(q) + 0.5) + zero_point  # round half away from zero
    return np.clip(q, info.min, info.max).astype(dtype)


def prepare_input(model, out, data_dir):
    detail = input_detail(model)
    images = load_test_images(data_dir)
    x = model_input(images, detail)
    x = x.reshape((len(images),) + tuple(int(d) for d in detail["shape"][1:]))
    x.tofile(out)
    return {"model": model, "file": out, "samples": len(images), "dtype": str(np.dtype(detail["dtype"])),
            "bytes": os.path.getsize(out)}


def read_samples(path, detail):
    shape = tuple(int(d) for d in detail["shape"][1:])
    x = np.fromfile(path, dtype=detail["dtype"])
    per = int(np.prod(shape))
    if x.size % per:
        raise SystemExit(f"{path}: not a whole number of samples of {shape}")
    return x.reshape((x.size // per,) + shape)


# ---------------------------------------------------------------- LiteRT measurements

def litert_latency(model, samples, threads, warmup, runs):
    it = litert().Interpreter(model_path=model, num_threads=threads)
    it.allocate_tensors()
    i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    x = np.ascontiguousarray(samples[:1])
    for _ in range(warmup):
        it.set_tensor(i, x)
        it.invoke()
        it.get_tensor(o)
    times = []
    clock = time.perf_counter
    for _ in range(runs):
        t0 = clock()
        it.set_tensor(i, x)
        it.invoke()
        it.get_tensor(o)
        times.append((clock() - t0) * 1000)
    del it
    gc.collect()
    return times


def litert_throughput(model, samples, threads, batch):
    n = len(samples)
    full, rest = divmod(n, batch)

    def make(size):
        it = litert().Interpreter(model_path=model, num_threads=threads)
        d = it.get_input_details()[0]
        it.resize_tensor_input(d["index"], [size] + [int(v) for v in d["shape"][1:]])
        it.allocate_tensors()
        return it, d["index"], it.get_output_details()[0]["index"]

    try:
        main = make(batch) if full else None
        tail = make(rest) if rest else None
    except RuntimeError as error:  # a model whose shapes are fixed at batch 1 (no -1 batch in its RESHAPE)
        if batch == 1:
            raise
        log(f"{model}: LiteRT cannot resize it to batch {batch} ({str(error).strip().splitlines()[0]}); batch 1 instead")
        tp, seconds, _ = litert_throughput(model, samples, threads, 1)
        return tp, seconds, 1
    out = []
    t0 = time.perf_counter()
    for k in range(full):
        it, i, o = main
        it.set_tensor(i, samples[k * batch:(k + 1) * batch])
        it.invoke()
        out.append(it.get_tensor(o))
    if tail:
        it, i, o = tail
        it.set_tensor(i, samples[full * batch:])
        it.invoke()
        out.append(it.get_tensor(o))
    seconds = time.perf_counter() - t0
    del main, tail, out
    gc.collect()
    return n / seconds, seconds, batch


# ---------------------------------------------------------------- QuantKit measurements

def quantkit_bench(binary, model, args):
    cmd = [binary, "bench", model, "--json"] + [str(a) for a in args]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()[-500:]}")
    return json.loads(r.stdout)


def quantkit_run_rss(binary, model, input_path, out_path):
    """Peak RSS (bytes) and wall seconds of `quantkit run` under /usr/bin/time -v."""
    cmd = ["/usr/bin/time", "-v", binary, "run", model, "--input", input_path, "--output", out_path]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {r.stderr.strip()[-500:]}")
    kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([0-9:.]+)", r.stderr).group(1)
    seconds = 0.0
    for part in wall.split(":"):
        seconds = seconds * 60 + float(part)
    return kb * 1024, seconds


# ---------------------------------------------------------------- the suite

def log(text):
    print(text, file=sys.stderr, flush=True)


def loadavg():
    try:
        return open("/proc/loadavg").read().split()[0:3]
    except OSError:
        return ["?"] * 3


def suite(a):
    data_dir = a.data or os.environ.get("QUANTKIT_DATA") or "/usr/share/datasets/fashion-mnist"
    os.makedirs(a.work, exist_ok=True)
    images = load_test_images(data_dir)
    models = []
    for spec in a.model:
        group, name, path = spec.split(":", 2)
        models.append({"group": group, "name": name, "path": path})
    load_before = loadavg()
    started = time.time()

    for m in models:
        detail = input_detail(m["path"])
        x = model_input(images, detail).reshape((len(images),) + tuple(int(d) for d in detail["shape"][1:]))
        m["input"] = os.path.join(a.work, f"{m['group']}-{m['name']}.input.bin")
        x.tofile(m["input"])
        m["dtype"] = str(np.dtype(detail["dtype"]))
        m["bytes"] = os.path.getsize(m["path"])
        samples = x
        tp_samples = x[:a.throughput_samples] if a.throughput_samples else x

        # (a) batch-1, 1-thread latency, alternating rounds, both runtimes on the same core (this
        # process and the quantkit child it starts inherit the affinity): the VM's two cores were
        # seen to run the same binary 1.6x apart at the same moment.
        all_cpus = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {a.latency_cpu if a.latency_cpu in all_cpus else min(all_cpus)})
        qk_runs, lt_runs, round_ratios = [], [], []
        for r in range(a.rounds):
            log(f"{m['group']}/{m['name']}: latency round {r + 1}/{a.rounds}")
            j = quantkit_bench(a.quantkit, m["path"], ["--kernels", "fast", "--threads", "1", "--batch", "1",
                                                      "--warmup", a.warmup, "--runs", a.runs, "--input", m["input"]])
            lt = litert_latency(m["path"], samples, 1, a.warmup, a.runs)
            qk_runs += j["run_ms"]
            lt_runs += lt
            # The two rounds ran back to back, so they shared the machine's state (this VM's speed
            # drifts by tens of percent over seconds): their ratio is the side-by-side figure.
            round_ratios.append(statistics.median(j["run_ms"]) / statistics.median(lt))
        os.sched_setaffinity(0, all_cpus)
        m["qk_ms"], m["lt_ms"] = statistics.median(qk_runs), statistics.median(lt_runs)
        m["ratio"] = statistics.median(round_ratios)
        m["round_ratios"] = round_ratios
        m["qk_ms_min"], m["lt_ms_min"] = min(qk_runs), min(lt_runs)
        ref = quantkit_bench(a.quantkit, m["path"], ["--kernels", "reference", "--threads", "1", "--batch", "1",
                                                     "--warmup", a.reference_warmup, "--runs", a.reference_runs,
                                                     "--input", m["input"]])
        m["qk_ref_ms"] = ref["latency_ms"]["median"]

        # (b) throughput over the 10k test images, 2 threads, alternating rounds.
        qk_tp, lt_tp, lt_batches, tp_ratios = [], [], set(), []
        for r in range(a.throughput_rounds):
            log(f"{m['group']}/{m['name']}: throughput round {r + 1}/{a.throughput_rounds}")
            j = quantkit_bench(a.quantkit, m["path"], ["--kernels", "fast", "--threads", a.threads, "--batch", a.batch,
                                                      "--samples", len(tp_samples), "--warmup", 0, "--runs", 1,
                                                      "--input", m["input"]])
            qk_tp.append(j["throughput_per_s"])
            tp, _, used = litert_throughput(m["path"], tp_samples, a.threads, a.batch)
            lt_tp.append(tp)
            lt_batches.add(used)
            tp_ratios.append(tp / j["throughput_per_s"])
        m["qk_tp"], m["lt_tp"] = statistics.median(qk_tp), statistics.median(lt_tp)
        m["lt_tp_batch"] = min(lt_batches)
        m["tp_ratio"] = statistics.median(tp_ratios)
        log(f"{m['group']}/{m['name']}: QuantKit {m['qk_ms']:.3f} ms, {m['qk_tp']:.0f}/s; "
            f"LiteRT {m['lt_ms']:.3f} ms, {m['lt_tp']:.0f}/s; QuantKit reference {m['qk_ref_ms']:.2f} ms")
        if not (m["group"] == "tf" and m["name"] == "int8"):  # kept for the memory check below
            os.remove(m["input"])

    # The memory bar of `quantkit run` on 10k int8 images.
    rss = None
    int8 = next((m for m in models if m["group"] == "tf" and m["name"] == "int8"), None)
    if int8:
        log("quantkit run: peak memory on the 10k int8 images")
        peak, seconds = quantkit_run_rss(a.quantkit, int8["path"], int8["input"], os.path.join(a.work, "run.out"))
        input_bytes = os.path.getsize(int8["input"])
        bar = 2 * (int8["bytes"] + input_bytes) + 32 * 2**20
        rss = {"peak": peak, "seconds": seconds, "bar": bar, "model": int8["bytes"], "input": input_bytes,
               "ok": peak <= bar}
    load_after = loadavg()

    table = render(models, rss, a, load_before, load_after, time.time() - started)
    print(table)
    if a.json_out:
        json.dump({"models": models, "rss": rss}, open(a.json_out, "w"), indent=1, default=str)
    if a.write:
        write_block(a.write, table)
    return 0 if (rss is None or rss["ok"]) else 1


def render(models, rss, a, load_before, load_after, seconds):
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")),
               platform.processor())
    floats = {m["group"]: m for m in models if m["name"] == "float"}
    makers = {"tf": "TensorFlow (`../shared/golden`)", "qk": a.qk_label}
    lines = [
        f"Measured {datetime.date.today()} on {os.cpu_count()} cores ({cpu}), `{a.command}`; "
        f"LiteRT {litert_version()} (`ai-edge-litert`, default XNNPACK path); load average "
        f"{' '.join(load_before)} before, {' '.join(load_after)} after; {seconds / 60:.0f} min.",
        "",
        f"Latency: batch 1, 1 thread, median of {a.rounds} alternating rounds × {a.runs} timed runs "
        f"(after {a.warmup} warm-up runs each) on the first test image, both runtimes pinned to core {a.latency_cpu}; \"QuantKit / LiteRT\" is the median over the "
        "rounds of each round's QuantKit median over the LiteRT median of the round that followed it (the "
        "machine's speed drifts between rounds; a pair shares it). "
        f"Throughput: {f'the first {a.throughput_samples:,}' if a.throughput_samples else 'the 10,000'} test images, "
        f"batch {a.batch}, {a.threads} threads, median of {a.throughput_rounds} alternating passes (the ratio: median of "
        "the passes' ratios). "
        "\"vs float\" is the model's latency over the same maker's float model on the same runtime.",
        "",
        "| model | made by | bytes | QuantKit ms | LiteRT ms | QuantKit / LiteRT | QuantKit vs float | LiteRT vs float "
        "| QuantKit reference ms | QuantKit img/s | LiteRT img/s | LiteRT / QuantKit |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    unbatched = False
    for m in models:
        f = floats.get(m["group"])
        mark = ""
        if m.get("lt_tp_batch", a.batch) != a.batch:
            mark, unbatched = " ¹", True
        vs_qk = f"{m['qk_ms'] / f['qk_ms']:.2f}x" if f else "—"
        vs_lt = f"{m['lt_ms'] / f['lt_ms']:.2f}x" if f else "—"
        lines.append(
            f"| {m['name']} | {makers.get(m['group'], m['group'])} | {m['bytes']:,} | **{m['qk_ms']:.3f}** | "
            f"**{m['lt_ms']:.3f}** | {m['ratio']:.2f}x | {vs_qk} | {vs_lt} | {m['qk_ref_ms']:.2f} | "
            f"**{m['qk_tp']:,.0f}** | **{m['lt_tp']:,.0f}**{mark} | {m['tp_ratio']:.2f}x{mark} |")
    if unbatched:
        lines += ["", "¹ LiteRT could not resize this model to the batch (its RESHAPE has a fixed batch-1 shape and "
                      "no -1 batch dimension in its shape signature), so its throughput was measured at batch 1."]
    if rss:
        lines += [
            "",
            f"Memory: `/usr/bin/time -v quantkit run seed_int8.tflite --input <10k int8 images> --output out.bin` "
            f"(fast kernels, all cores): peak RSS **{rss['peak'] / 2**20:.1f} MiB** "
            f"({rss['peak']:,} B) against the bar 2 × (model {rss['model']:,} B + input {rss['input']:,} B) + 32 MiB "
            f"= {rss['bar'] / 2**20:.1f} MiB: **{'met' if rss['ok'] else 'NOT met'}** ({rss['seconds']:.1f} s wall).",
        ]
    return "\n".join(lines)


def write_block(path, table):
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    begin, end = "<!-- inference-speed:begin -->", "<!-- inference-speed:end -->"
    block = f"{begin}\n{table}\n{end}"
    if begin in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text += f"\n## Inference speed: QuantKit vs LiteRT (issue 6)\n\n{block}\n"
    tmp = f"{path}.tmp-{os.getpid()}"
    open(tmp, "w").write(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------- command line

def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("prepare-input")
    s.add_argument("model")
    s.add_argument("out")
    s.add_argument("--data")

    s = sub.add_parser("latency")
    s.add_argument("model")
    s.add_argument("input")
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--warmup", type=int, default=20)
    s.add_argument("--runs", type=int, default=200)

    s = sub.add_parser("throughput")
    s.add_argument("model")
    s.add_argument("input")
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--batch", type=int, default=64)

    s = sub.add_parser("suite")
    s.add_argument("--quantkit", required=True)
    s.add_argument("--model", action="append", required=True, help="GROUP:NAME:PATH (GROUP tf or qk; NAME float, int8, ...)")
    s.add_argument("--work", required=True, help="scratch directory for the input files")
    s.add_argument("--data")
    s.add_argument("--rounds", type=int, default=5)
    s.add_argument("--latency-cpu", type=int, default=0, help="the core both runtimes' latency rounds run on")
    s.add_argument("--warmup", type=int, default=20)
    s.add_argument("--runs", type=int, default=200)
    s.add_argument("--reference-warmup", type=int, default=3)
    s.add_argument("--reference-runs", type=int, default=30)
    s.add_argument("--throughput-rounds", type=int, default=3)
    s.add_argument("--throughput-samples", type=int, help="first N test images only (quick checks; default all)")
    s.add_argument("--batch", type=int, default=64)
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--write", help="Markdown file to update between the inference-speed markers")
    s.add_argument("--json-out")
    s.add_argument("--command", default="bash Benchmarks/inference_speed.sh")
    s.add_argument("--qk-label", default="QuantKit", help="'made by' of the qk group in the table")

    a = p.parse_args()
    if a.cmd == "prepare-input":
        print(json.dumps(prepare_input(a.model, a.out, a.data or os.environ.get("QUANTKIT_DATA")
                                       or "/usr/share/datasets/fashion-mnist")))
    elif a.cmd == "latency":
        d = input_detail(a.model)
        t = litert_latency(a.model, read_samples(a.input, d), a.threads, a.warmup, a.runs)
        print(json.dumps({"model": a.model, "threads": a.threads, "runs": a.runs, "warmup": a.warmup,
                          "latency_ms": {"median": statistics.median(t), "min": min(t), "max": max(t)}, "run_ms": t}))
    elif a.cmd == "throughput":
        d = input_detail(a.model)
        tp, seconds, used = litert_throughput(a.model, read_samples(a.input, d), a.threads, a.batch)
        print(json.dumps({"model": a.model, "threads": a.threads, "batch": used, "throughput_per_s": tp,
                          "seconds": seconds}))
    else:
        sys.exit(suite(a))


if __name__ == "__main__":
    main()
