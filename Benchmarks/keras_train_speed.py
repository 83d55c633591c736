"""Times Keras (tf-keras) training of the seed CNN, the same recipe as QuantKit's `quantkit train`.

Reads FashionMNIST from the Debian package's IDX files, splits 55,000 / 5,000, trains with
batch 64 and Adam, one `fit` call per epoch with validation (as ../shared/anchors/tf_seed_pipeline.py
does), and prints one JSON object: per-epoch seconds and the test accuracy.
Usage: python keras_train_speed.py [--epochs N] [--data DIR]
"""
import argparse, gzip, json, os, time
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import numpy as np


def idx(path):
    with gzip.open(path, "rb") as f:
        b = f.read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i: 8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--data", default=os.environ.get("QUANTKIT_DATA", "/usr/share/datasets/fashion-mnist"))
    a = ap.parse_args()
    import tensorflow as tf, tf_keras as keras
    d = a.data
    xtr = idx(f"{d}/train-images-idx3-ubyte.gz").astype(np.float32)[..., None] / 255.0
    ytr = idx(f"{d}/train-labels-idx1-ubyte.gz")
    xte = idx(f"{d}/t10k-images-idx3-ubyte.gz").astype(np.float32)[..., None] / 255.0
    yte = idx(f"{d}/t10k-labels-idx1-ubyte.gz")
    perm = np.random.default_rng(0).permutation(len(xtr))
    xva, yva = xtr[perm[55000:]], ytr[perm[55000:]]
    xtr, ytr = xtr[perm[:55000]], ytr[perm[:55000]]
    tf.random.set_seed(0)
    L = keras.layers
    m = keras.Sequential([
        L.Conv2D(64, 2, padding="same", activation="relu", input_shape=(28, 28, 1)), L.MaxPooling2D(), L.Dropout(0.2),
        L.Conv2D(128, 2, padding="same", activation="relu"), L.MaxPooling2D(), L.Dropout(0.2),
        L.Flatten(), L.Dense(256), L.Activation("relu"), L.Dropout(0.2), L.Dense(10), L.Activation("softmax")])
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    times = []
    for _ in range(a.epochs):
        t = time.perf_counter()
        m.fit(xtr, ytr, batch_size=64, epochs=1, shuffle=True, validation_data=(xva, yva), verbose=0)
        times.append(time.perf_counter() - t)
    acc = float(m.evaluate(xte, yte, verbose=0)[1])
    print(json.dumps({"tf": tf.__version__, "epoch_s": times, "test_acc": acc}))


if __name__ == "__main__":
    main()
