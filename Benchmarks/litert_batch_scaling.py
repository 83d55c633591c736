#!/usr/bin/env python3
"""LiteRT's own batch throughput with 1 and 2 threads (XNNPACK), for comparison with
`quantkit bench MODEL --batch 64 --threads N --samples 640`.

    python Benchmarks/litert_batch_scaling.py MODEL.tflite [BATCH]

Resizes the input to BATCH (default 64) random int8 (or float32 in [0, 1)) samples, warms up with 5
invokes, then prints the median of 30 timed invokes per thread count, as ms per image and images/s,
for 1, 2, 1, 2 threads (alternating). Needs ai-edge-litert and numpy.
"""
import sys
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    model, batch = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 64
    rng = np.random.default_rng(0)
    for threads in (1, 2, 1, 2):
        it = Interpreter(model_path=model, num_threads=threads)
        inp = it.get_input_details()[0]
        shape = [batch] + list(inp["shape"][1:])
        it.resize_tensor_input(inp["index"], shape)
        it.allocate_tensors()
        if inp["dtype"] == np.int8:
            x = rng.integers(-128, 128, size=shape, dtype=np.int8)
        else:
            x = rng.random(shape, dtype=np.float32)
        it.set_tensor(inp["index"], x)
        for _ in range(5):
            it.invoke()
        times = []
        for _ in range(30):
            t = time.perf_counter()
            it.invoke()
            times.append(time.perf_counter() - t)
        m = float(np.median(times))
        print(f"{threads} thread{'s' if threads > 1 else ''}: {m / batch * 1e3:.4f} ms/img, {batch / m:.0f} img/s")


if __name__ == "__main__":
    main()
