"""TensorFlow's side of Benchmarks/quantize_speed.sh: the TFLite converter's full-integer int8
conversion of the seed CNN with 500 representative training images (the seed's recipe, as in
../shared/anchors/tf_seed_pipeline.py), timed around `convert()` only (the data is already in
memory, the Keras model already built). Prints one JSON object: {"tf": version, "convert_s": [...]}.
Usage: python tf_quantize_speed.py [REPEATS]
"""
import gzip, json, os, sys, time
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np
import tensorflow as tf
import tf_keras as keras

DATA = "/usr/share/datasets/fashion-mnist"


def idx(path):
    with gzip.open(path, "rb") as f:
        b = f.read()
    nd = int.from_bytes(b[0:4], "big") & 0xFF
    dims = [int.from_bytes(b[4 + 4 * i: 8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    x = (idx(f"{DATA}/train-images-idx3-ubyte.gz").astype(np.float32) / 255.0)[..., None]
    tf.random.set_seed(0)
    L = keras.layers
    model = keras.Sequential([
        L.Conv2D(64, 2, padding="same", activation="relu", input_shape=(28, 28, 1)), L.MaxPooling2D(), L.Dropout(0.2),
        L.Conv2D(128, 2, padding="same", activation="relu"), L.MaxPooling2D(), L.Dropout(0.2),
        L.Flatten(), L.Dense(256), L.Activation("relu"), L.Dropout(0.2), L.Dense(10), L.Activation("softmax")])

    def rep():
        for i in range(500):
            yield [x[i:i + 1]]

    times = []
    for _ in range(repeats):
        c = tf.lite.TFLiteConverter.from_keras_model(model)
        c.optimizations = [tf.lite.Optimize.DEFAULT]
        c.representative_dataset = rep
        c.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        c.inference_input_type = tf.int8
        c.inference_output_type = tf.int8
        t = time.perf_counter()
        c.convert()
        times.append(time.perf_counter() - t)
    print(json.dumps({"tf": tf.__version__, "convert_s": times}))


if __name__ == "__main__":
    main()
