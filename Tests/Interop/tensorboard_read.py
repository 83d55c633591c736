#!/usr/bin/env python3
"""Reads QuantKit's TensorBoard logs with TensorBoard's own reader and checks them against the history.

    tensorboard_read.py LOGDIR HISTORY.json

LOGDIR is what `quantkit train --logdir LOGDIR` wrote and HISTORY.json what the same run's
`--history HISTORY.json` wrote. Both runs, LOGDIR/train and LOGDIR/validation, are loaded with
both of TensorBoard's accumulators, which read the TFRecord framing and parse the Event protos:
`event_accumulator.EventAccumulator` (simple_value as Scalars) and
`plugin_event_accumulator.EventAccumulator`, the one TensorBoard's own server uses, which migrates
simple_value to scalar Tensors with the "scalars" plugin's metadata (what the Scalars dashboard
shows). Then:

- every record of every event file must pass TensorBoard's record reader's length and data CRC
  checks up to a clean end of file (the accumulator's loader stops quietly at a bad record, so
  this is checked on its own with TensorBoard's `PyRecordReader_New`), one record for the file
  version plus one per epoch;
- the file version must be 2 (the first event's "brain.Event:2");
- train must hold exactly the tags epoch_loss, epoch_accuracy, epoch_learning_rate, epoch_seconds,
  validation exactly epoch_loss, epoch_accuracy (Keras's layout: the same tags in both runs);
- each tag must have one point per epoch at steps = the history's epoch numbers, and each value must
  equal the history's (loss / accuracy / learning_rate / seconds; val_loss / val_accuracy for the
  validation run) to float32 rounding, since simple_value is a float32;
- in the plugin accumulator, each tag's plugin must be "scalars".

Prints one line per
check ("ok   ..." / "FAIL ...") and exits non-zero when any fails.
"""
import json
import math
import os
import sys

from tensorboard.backend.event_processing import event_accumulator, plugin_event_accumulator
from tensorboard.compat.tensorflow_stub import errors as stub_errors
from tensorboard.compat.tensorflow_stub import pywrap_tensorflow as stub_pywrap


def strict_record_count(path):
    """The number of records in `path`, read with TensorBoard's record reader; raises on a bad CRC or truncation."""
    reader = stub_pywrap.PyRecordReader_New(path.encode(), 0, b"", None)
    count = 0
    while True:
        try:
            reader.GetNext()
        except stub_errors.OutOfRangeError:
            return count
        count += 1


def points(accumulator, tag):
    """[(step, value)] of `tag`, from the Scalars or the Tensors of the accumulator."""
    tags = accumulator.Tags()
    if tag in tags.get("scalars", []):
        return [(e.step, float(e.value)) for e in accumulator.Scalars(tag)]
    if tag in tags.get("tensors", []):
        from tensorboard.util import tensor_util
        return [(e.step, float(tensor_util.make_ndarray(e.tensor_proto).item())) for e in accumulator.Tensors(tag)]
    return None


def load(module, run_dir):
    # 0 = keep every point (the default keeps a sample of long series).
    guidance = {module.TENSORS: 0}
    if hasattr(module, "SCALARS"):  # the plugin accumulator has no scalars, only tensors
        guidance[module.SCALARS] = 0
    accumulator = module.EventAccumulator(run_dir, size_guidance=guidance)
    accumulator.Reload()
    return accumulator


def main():
    logdir, history_path = sys.argv[1:3]
    epochs = json.load(open(history_path))["epochs"]
    steps = [e["epoch"] for e in epochs]
    expected = {
        "train": {"epoch_loss": "loss", "epoch_accuracy": "accuracy",
                  "epoch_learning_rate": "learning_rate", "epoch_seconds": "seconds"},
        "validation": {"epoch_loss": "val_loss", "epoch_accuracy": "val_accuracy"},
    }
    failures = []
    checked = 0
    for run, tags in expected.items():
        run_dir = os.path.join(logdir, run)
        files = sorted(f for f in os.listdir(run_dir) if "tfevents" in f) if os.path.isdir(run_dir) else []
        if not files:
            failures.append(f"{run}: no event file in {run_dir}")
            continue
        for name in files:
            try:
                records = strict_record_count(os.path.join(run_dir, name))
            except stub_errors.DataLossError as e:
                failures.append(f"{run}/{name}: {e.message}")
                continue
            if records != 1 + len(epochs):
                failures.append(f"{run}/{name}: {records} records, expected 1 + {len(epochs)} epochs")
        for module in (event_accumulator, plugin_event_accumulator):
            where = f"{run} ({module.__name__.rsplit('.', 1)[-1]})"
            accumulator = load(module, run_dir)
            if accumulator.file_version != 2:
                failures.append(f"{where}: file version {accumulator.file_version}, expected 2 (brain.Event:2)")
            found = set(accumulator.Tags().get("scalars", [])) | set(accumulator.Tags().get("tensors", []))
            if found != set(tags):
                failures.append(f"{where}: tags {sorted(found)}, expected {sorted(tags)}")
            for tag, key in tags.items():
                got = points(accumulator, tag)
                if got is None:
                    failures.append(f"{where}/{tag}: missing")
                    continue
                if module is plugin_event_accumulator:
                    plugin = accumulator.SummaryMetadata(tag).plugin_data.plugin_name
                    if plugin != "scalars":
                        failures.append(f"{where}/{tag}: plugin {plugin!r}, expected 'scalars'")
                if [s for s, _ in got] != steps:
                    failures.append(f"{where}/{tag}: steps {[s for s, _ in got]}, expected {steps}")
                    continue
                for (step, value), epoch in zip(got, epochs):
                    want = epoch[key]
                    # simple_value is float32: the written value is `want` rounded to float32.
                    if not math.isclose(value, want, rel_tol=2.0 ** -24, abs_tol=1e-37):
                        failures.append(f"{where}/{tag} step {step}: {value!r}, history has {want!r}")
                    checked += 1
    if failures:
        for failure in failures:
            print(f"FAIL tensorboard: {failure}")
        return 1
    print(f"ok   tensorboard: CRCs pass; TensorBoard's two accumulators read {checked} scalars at steps {steps} "
          f"in train/ and validation/, equal to the history to float32 rounding")
    return 0


if __name__ == "__main__":
    sys.exit(main())
