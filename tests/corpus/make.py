#!/usr/bin/env python3
"""Writes the malformed-input corpus of tests/corpus/ (what `tests/cli/corpus.rs` runs).

Each input is small and damaged in one way; `cases.toml` says how each is given to the real
binary, the exit code expected and what the one error line must name. Run it again after
changing a case:

    python3 tests/corpus/make.py target/release/neurons

The binary is used only to make the valid `config.toml` files that the damaged ones start from
(a quick run of each lab, seed 1), so that each damaged file differs from a real one by one field.
No third-party package: PNG, IDX and NPZ are written with the standard library.
"""

import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib

ROOT = os.path.dirname(os.path.abspath(__file__))
CASES = []


def write(rel, data):
    path = os.path.join(ROOT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def case(name, args, code, names, base=None, files=None):
    """`args`: the command line, `@/` standing for the corpus folder; `base`: a run made first
    (a lab's quick run) into `RUN`, with `files` (run file -> corpus file) laid over it."""
    CASES.append((name, args, code, names, base, files or {}))


# --- IDX ---------------------------------------------------------------------------------------

def idx_images(n, rows, cols, magic=0x803):
    pixels = bytes((i * 37 + 11) % 256 for i in range(n * rows * cols))
    return struct.pack(">IIII", magic, n, rows, cols) + pixels


def idx_labels(labels, magic=0x801):
    return struct.pack(">II", magic, len(labels)) + bytes(labels)


def idx_folder(rel, train=None, train_labels=None, test=None, test_labels=None, drop=None):
    files = {
        "train-images-idx3-ubyte": train if train is not None else idx_images(20, 28, 28),
        "train-labels-idx1-ubyte": train_labels if train_labels is not None else idx_labels([i % 10 for i in range(20)]),
        "t10k-images-idx3-ubyte": test if test is not None else idx_images(5, 28, 28),
        "t10k-labels-idx1-ubyte": test_labels if test_labels is not None else idx_labels([1, 2, 3, 4, 5]),
    }
    for name, data in files.items():
        if name != drop:
            write(f"{rel}/{name}", data)


def idx_cases():
    mlp = ["run", "mlp-classifier", "--quick", "--data"]
    idx_folder("idx/bad-magic", train=idx_images(20, 28, 28, magic=0x804))
    case("idx images with a wrong magic number", mlp + ["@/idx/bad-magic"], 1,
         ["bad-magic/train-images-idx3-ubyte", "magic number"])
    idx_folder("idx/truncated", train=idx_images(20, 28, 28)[:5000])
    case("idx images cut short", mlp + ["@/idx/truncated"], 1,
         ["truncated/train-images-idx3-ubyte", "truncated"])
    # 10⁶ images of 1000×1000: a header promising 10¹² bytes in a file of 16
    idx_folder("idx/huge-header", train=struct.pack(">IIII", 0x803, 10**6, 1000, 1000))
    case("idx header claiming 10^12 bytes", mlp + ["@/idx/huge-header"], 1,
         ["huge-header/train-images-idx3-ubyte", "1000000000000"])
    idx_folder("idx/labels-bad-magic", train_labels=idx_labels([0] * 20, magic=0x803))
    case("idx labels with a wrong magic number", mlp + ["@/idx/labels-bad-magic"], 1,
         ["labels-bad-magic/train-labels-idx1-ubyte"])
    idx_folder("idx/label-10", test_labels=idx_labels([1, 2, 10, 4, 5]))
    case("idx label 10", mlp + ["@/idx/label-10"], 1,
         ["label-10/t10k-labels-idx1-ubyte", "label 10"])
    idx_folder("idx/count-mismatch", train_labels=idx_labels([1] * 19))
    case("idx 20 images, 19 labels", mlp + ["@/idx/count-mismatch"], 1,
         ["count-mismatch/train-images-idx3-ubyte", "count-mismatch/train-labels-idx1-ubyte"])
    idx_folder("idx/empty-file", train=b"")
    case("idx empty images file", mlp + ["@/idx/empty-file"], 1,
         ["empty-file/train-images-idx3-ubyte"])
    idx_folder("idx/bad-gzip", drop="train-images-idx3-ubyte")
    write("idx/bad-gzip/train-images-idx3-ubyte.gz", b"\x1f\x8b\x08\x00" + bytes(range(60)))
    case("idx gzip that is not", mlp + ["@/idx/bad-gzip"], 1,
         ["bad-gzip/train-images-idx3-ubyte.gz"])
    idx_folder("idx/missing-file", drop="t10k-labels-idx1-ubyte")
    case("idx folder missing a file", mlp + ["@/idx/missing-file"], 2,
         ["missing-file", "missing t10k-labels-idx1-ubyte"])
    idx_folder("idx/trailing-bytes", test=idx_images(5, 28, 28) + b"\x00\x01")
    case("idx images with trailing bytes", mlp + ["@/idx/trailing-bytes"], 1,
         ["trailing-bytes/t10k-images-idx3-ubyte"])
    idx_folder("idx/32x32", train=idx_images(20, 32, 32), test=idx_images(5, 32, 32))
    for lab in ["vae", "gan", "cgan"]:
        case(f"idx 32x32 images into the {lab}", ["run", lab, "--quick", "--data", "@/idx/32x32"], 1,
             ["32x32/train-images-idx3-ubyte", "32×32", "28×28"])
    idx_folder("idx/0x0", train=idx_images(20, 0, 0), test=idx_images(5, 0, 0))
    case("idx 0x0 images", mlp + ["@/idx/0x0"], 1, ["0x0/train-images-idx3-ubyte", "0×0"])
    idx_folder("idx/10x10", train=idx_images(20, 10, 10), test=idx_images(5, 10, 10))
    case("idx 10x10 images into the cnn", ["run", "cnn", "--quick", "--data", "@/idx/10x10"], 1,
             ["10x10/train-images-idx3-ubyte", "from 14×14"])
    idx_folder("idx/no-test", test=idx_images(0, 28, 28), test_labels=idx_labels([]))
    for lab in ["mlp-classifier", "cnn", "vae"]:
        case(f"idx without test images into the {lab}", ["run", lab, "--quick", "--data", "@/idx/no-test"], 1,
             ["no-test/t10k-images-idx3-ubyte", "no test images"])
    idx_folder("idx/sizes-differ", test=idx_images(5, 20, 20))
    case("idx test images of another size", mlp + ["@/idx/sizes-differ"], 1,
         ["sizes-differ/t10k-images-idx3-ubyte", "20×20"])
    write("idx/a-file", b"not a folder")
    case("idx --data naming a file", mlp + ["@/idx/a-file"], 2, ["a-file", "no such directory"])
    write("idx/images-32x32-idx3-ubyte", idx_images(2, 32, 32))
    case("predict idx images of 32x32", ["predict", "--run", "RUN", "@/idx/images-32x32-idx3-ubyte"], 1,
         ["images-32x32-idx3-ubyte", "32×32"], base="mlp-classifier")


# --- CSV tables --------------------------------------------------------------------------------

def csv_cases():
    def lin(file, code, names, lab="linear-regression", target="y"):
        case(f"csv {file} into {lab}", ["run", lab, "--data", f"@/csv/{file}", "--target", target], code,
             [file] + names)

    write("csv/empty.csv", "")
    lin("empty.csv", 1, [])
    write("csv/header-only.csv", "x,y\n")
    lin("header-only.csv", 1, [])
    write("csv/not-a-number.csv", "x,y\n1,2\n2,4\n3,six\n4,8\n5,10\n")
    lin("not-a-number.csv", 1, ["row 4", '"y"', "six"])
    write("csv/empty-cell.csv", "x,y\n1,2\n2,\n3,6\n4,8\n5,10\n")
    lin("empty-cell.csv", 1, ["row 3", '"y"', "empty"])
    write("csv/ragged.csv", "x,y\n1,2\n2,4,9\n3,6\n4,8\n5,10\n")
    lin("ragged.csv", 1, ["row 3"])
    write("csv/1e300.csv", "x,y\n1,2\n2,4\n3,1e300\n4,8\n5,10\n")
    lin("1e300.csv", 1, ["row 4", '"y"', "1e300"])
    lin("1e300.csv", 1, ["row 4", '"y"', "1e300"], lab="mlp-regression")
    write("csv/inf.csv", "x,y\n1,2\ninf,4\n3,6\n4,8\n5,10\n")
    lin("inf.csv", 1, ["row 3", '"x"', "inf"])
    write("csv/nan.csv", "x,y\n1,2\n2,4\nNaN,6\n4,8\n5,10\n")
    lin("nan.csv", 1, ["row 4", '"x"', "NaN"], lab="pca", target="y")
    write("csv/no-target.csv", "x,z\n1,2\n2,4\n3,6\n4,8\n5,10\n")
    lin("no-target.csv", 1, ['"y"'])
    lin("no-target.csv", 1, ['"y"'], lab="mlp-regression")
    write("csv/binary.csv", bytes([0xff, 0xfe, 0x00, 0x81, 0x0a, 0x80, 0xc3, 0x28, 0x0a] * 8))
    lin("binary.csv", 1, [])
    write("csv/semicolons.csv", "x;y\n1;2\n2;4\n3;6\n4;8\n5;10\n")
    lin("semicolons.csv", 1, ["one column only", "--sep ';'"])
    write("csv/three-rows.csv", "x,y\n1,2\n2,4\n3,6\n")
    lin("three-rows.csv", 1, ["3"], lab="mlp-regression")
    write("csv/one-class.csv", "a,b,label\n1,2,0\n2,1,0\n3,3,0\n4,1,0\n5,2,0\n6,1,0\n")
    lin("one-class.csv", 1, ['"label"', "one class"], lab="logistic-regression", target="label")
    lin("one-class.csv", 1, ['"label"', "one class"], lab="perceptron", target="label")
    write("csv/one-row.csv", "a,b\n1,2\n")
    case("csv one row into pca", ["run", "pca", "--data", "@/csv/one-row.csv"], 1, ["one-row.csv"])
    case("csv one row into kmeans", ["run", "kmeans", "--data", "@/csv/one-row.csv"], 1, ["one-row.csv"])
    write("csv/wines-missing-column.csv", "fixed acidity,alcohol\n7.4,9.4\n")
    case("predict a csv missing feature columns", ["predict", "--run", "RUN", "@/csv/wines-missing-column.csv"], 1,
         ["wines-missing-column.csv", "volatile acidity"], base="mlp-regression")


# --- flags out of range ------------------------------------------------------------------------

def flag_cases():
    for args, names in [
        (["run", "mlp-classifier", "--quick", "--batch-size", "1000000000"], ["--batch-size"]),
        (["run", "mlp-classifier", "--quick", "--epochs", "-3"], ["--epochs"]),
        (["run", "logistic-regression", "--n", "100000000000"], ["--n"]),
        (["run", "cnn", "--quick", "--width", "100000"], ["--width"]),
        (["run", "mlp-classifier", "--quick", "--device", "cuda"], ["--device", "CUDA"]),
        (["run", "linear-regression", "--slope", "inf"], ["--slope"]),
        (["run", "polynomial-regression", "--noise", "1e300"], ["--noise"]),
        (["run", "kmeans", "--restarts", "100000000000"], ["--restarts"]),
    ]:
        case("flag " + " ".join(args[1:]), args, 2, names)
    write("csv/constant-column.csv", "x,c,y\n1,1,2\n2,1,4\n3,1,6\n4,1,8\n")
    case("csv with a constant column into linear-regression",
         ["run", "linear-regression", "--data", "@/csv/constant-column.csv", "--target", "y"], 1,
         ["constant-column.csv", "collinear", "x, c"])


# --- PNG (predict) -----------------------------------------------------------------------------

def png(width, height, pixels=None, declared=None):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    w, h = declared or (width, height)
    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes(pixels or [255] * width) for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


def png_cases():
    predict = lambda f: ["predict", "--run", "RUN", f"@/png/{f}"]
    write("png/text.png", "a digit, I promise\n")
    case("png that is text", predict("text.png"), 1, ["text.png", "not an image"], base="mlp-classifier")
    write("png/empty.png", b"")
    case("png of 0 bytes", predict("empty.png"), 1, ["empty.png"], base="mlp-classifier")
    write("png/truncated.png", png(28, 28)[:60])
    case("png cut short", predict("truncated.png"), 1, ["truncated.png"], base="mlp-classifier")
    write("png/huge.png", png(4, 4, declared=(100000, 100000)))
    case("png claiming 100000x100000 pixels", predict("huge.png"), 1, ["huge.png"], base="mlp-classifier")
    bad_crc = bytearray(png(28, 28))
    bad_crc[29] ^= 0xFF  # inside IHDR's checksum
    write("png/bad-checksum.png", bytes(bad_crc))
    case("png with a wrong checksum", predict("bad-checksum.png"), 1, ["bad-checksum.png"], base="mlp-classifier")


# --- run directories: config.toml, checkpoint.toml, .bpk ---------------------------------------

def replace(text, key, value):
    """`key = value` in place of the first `key = ...`, an array spread over lines included."""
    lines = text.split("\n")
    hits = [i for i, l in enumerate(lines) if l.startswith(f"{key} = ")]
    assert hits, f"no {key} in config"
    start = end = hits[0]
    if lines[start].rstrip().endswith("["):
        while lines[end].strip() != "]":
            end += 1
    lines[start:end + 1] = [f"{key} = {value}"]
    return "\n".join(lines)


def run_dir_cases(binary):
    work = tempfile.mkdtemp()
    configs = {}
    for lab in ["mlp-classifier", "mlp-regression", "rnn", "vae", "gcn", "sentiment"]:
        subprocess.run([binary, "run", lab, "--quick", "--out", lab], cwd=work, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(work, lab, "config.toml")) as f:
            configs[lab] = f.read()
    gcn_weights = open(os.path.join(work, "gcn", "model.bpk"), "rb").read()
    shutil.rmtree(work)

    resume = ["run", "--resume", "RUN"]
    mlp = configs["mlp-classifier"]

    def config(rel, text, args, code, names, base):
        write(f"config/{rel}", text)
        case(f"config.toml {rel}", args, code, ["config.toml"] + names, base=base,
             files={"config.toml": f"config/{rel}"})

    config("garbage.toml", "lab = \"mlp-classifier\"\n[training\nepochs = 3\n", resume, 1,
           ["line 2"], "mlp-classifier")
    config("unknown-lab.toml", mlp.replace('lab = "mlp-classifier"', 'lab = "telepathy"'), resume, 1,
           ["telepathy"], "mlp-classifier")
    config("batch-size-0.toml", replace(mlp, "batch_size", "0"), resume, 1, ["batch_size"], "mlp-classifier")
    config("lr-negative.toml", replace(mlp, "learning_rate", "-0.1"), resume, 1, ["learning_rate"],
           "mlp-classifier")
    config("epochs-0.toml", replace(mlp, "epochs", "0"), resume, 1, ["epochs"], "mlp-classifier")
    config("epochs-text.toml", replace(mlp, "epochs", '"ten"'), resume, 1, ["line", "column"],
           "mlp-classifier")
    config("no-training.toml", mlp.split("[training]")[0], resume, 1, ["training"], "mlp-classifier")
    config("unknown-field.toml", mlp.replace("[training]\n", "[training]\nmomentum_of_the_soul = 3\n"),
           resume, 1, ["momentum_of_the_soul"], "mlp-classifier")
    config("test-samples-0.toml", replace(mlp, "test_samples", "0"), resume, 1, ["test_samples"],
           "mlp-classifier")
    config("path-without-sha.toml", mlp.replace("[data]\n", '[data]\npath = "/nowhere"\n'), resume, 1,
           ["path"], "mlp-classifier")
    config("input-std-0.toml", replace(mlp, "input_std", "0.0"),
           ["predict", "--run", "RUN", "@/png/digit.png"], 1, ["input_std"], "mlp-classifier")
    config("hidden-0.toml", replace(mlp, "hidden", "[0, 100]"),
           ["predict", "--run", "RUN", "@/png/digit.png"], 1, ["hidden"], "mlp-classifier")
    config("image-size-0.toml", replace(mlp, "image_size", "[0, 28]"), resume, 1, ["image_size"],
           "mlp-classifier")
    config("image-size-32.toml", replace(mlp, "image_size", "[32, 32]"), resume, 1,
           ["image_size", "28×28"], "mlp-classifier")
    config("batch-size-huge.toml", replace(mlp, "batch_size", "1000000000000"), resume, 1,
           ["batch_size", "65536"], "mlp-classifier")
    config("hidden-huge.toml", replace(mlp, "hidden", "[100000, 100]"),
           ["predict", "--run", "RUN", "@/png/digit.png"], 1, ["hidden", "4096"], "mlp-classifier")
    vae = configs["vae"]
    config("vae-latent-0.toml", replace(vae, "latent_dim", "0"),
           ["generate", "--run", "RUN", "--out", "OUT/x.png"], 1, ["latent_dim"], "vae")
    config("vae-beta-negative.toml", replace(vae, "beta", "-1.0"), resume, 1, ["beta"], "vae")
    rnn = configs["rnn"]
    config("rnn-train-fraction-2.toml", replace(rnn, "train_fraction", "2.0"), resume, 1,
           ["train_fraction"], "rnn")
    config("rnn-points-5.toml", replace(rnn, "points", "5"), resume, 1, ["points"], "rnn")
    config("rnn-hidden-huge.toml", replace(rnn, "hidden", "100000"), resume, 1, ["hidden"], "rnn")
    reg = configs["mlp-regression"]
    config("regression-test-fraction-0.toml", replace(reg, "test_fraction", "0.0"), resume, 1,
           ["test_fraction"], "mlp-regression")
    config("regression-no-features.toml", replace(reg, "features", "[]"),
           ["predict", "--run", "RUN", "@/csv/wines-missing-column.csv"], 1, ["features"], "mlp-regression")
    gcn = configs["gcn"]
    config("gcn-unknown-graph.toml", gcn.replace('dataset = "karate"', 'dataset = "facebook"'),
           ["predict", "--run", "RUN", "--node", "1"], 1, ["facebook"], "gcn")

    config("gcn-hidden-0.toml", replace(gcn, "hidden", "0"), ["predict", "--run", "RUN", "--node", "1"], 1,
           ["hidden"], "gcn")
    config("gcn-features-wrong.toml", replace(gcn, "features", "7"), resume, 1, ["features 7", "34 features"],
           "gcn")
    text = configs["sentiment"]
    config("sentiment-dropout-1.5.toml", replace(text, "dropout", "1.5"),
           ["predict", "--run", "RUN", "--text", "a fine film"], 1, ["dropout"], "sentiment")
    config("sentiment-vocabulary-wrong.toml", replace(text, "vocabulary", "12"), resume, 1,
           ["vocabulary: 12", "vocab.txt"], "sentiment")
    config("sentiment-hidden-huge.toml", replace(text, "hidden", "100000"), resume, 1, ["hidden", "4096"],
           "sentiment")
    config("sentiment-max-len-0.toml", replace(text, "max_len", "0"),
           ["predict", "--run", "RUN", "--text", "a fine film"], 1, ["max_len"], "sentiment")

    def checkpoint(rel, text, names):
        write(f"checkpoint/{rel}", text)
        case(f"checkpoint.toml {rel}", resume, 1, ["checkpoint.toml"] + names, base="mlp-classifier",
             files={"checkpoint.toml": f"checkpoint/{rel}"})

    write("bpk/garbage.bpk", bytes((i * 7919) % 256 for i in range(4096)))
    good = ("epoch = 1\ntrain_seconds = 0.5\nsamples_seen = 2000\nbest_loss = 0.4\nbest_epoch = 1\n"
            "epochs_without_improvement = 0\n")
    checkpoint("garbage.toml", "\x00\x01 not toml at all", ["line 1"])
    checkpoint("epoch-beyond.toml", good.replace("epoch = 1\n", "epoch = 99\n", 1), ["epoch: 99"])
    checkpoint("best-after-epoch.toml", good.replace("best_epoch = 1", "best_epoch = 7"), ["best_epoch"])
    checkpoint("missing-field.toml", good.replace("samples_seen = 2000\n", ""), ["samples_seen"])
    checkpoint("no-folder.toml", good, ["checkpoint-epoch-1"])
    write("checkpoint/good.toml", good)
    case("checkpoint whose weights are garbage", resume, 1, ["checkpoint-epoch-1/model.bpk"],
         base="mlp-classifier",
         files={"checkpoint.toml": "checkpoint/good.toml", "checkpoint-epoch-1/model.bpk": "bpk/garbage.bpk"})

    def weights(rel, data, names, base="mlp-classifier", target="model.bpk"):
        write(f"bpk/{rel}", data)
        args = ["predict", "--run", "RUN", "@/png/digit.png"] if base == "mlp-classifier" else \
            ["predict", "--run", "RUN", "--node", "1"]
        case(f"weights {rel}", args, 1, [target] + names, base=base, files={target: f"bpk/{rel}"})

    weights("empty.bpk", b"", [])
    weights("garbage.bpk", bytes((i * 7919) % 256 for i in range(4096)), [])
    weights("truncated.bpk", gcn_weights[: len(gcn_weights) // 2], [], base="gcn")
    weights("gcn-weights.bpk", gcn_weights, [])


# --- text and graphs ---------------------------------------------------------------------------

def npy(array, dtype, shape=None):
    """A .npy file (format 1.0) of a 1-D array of `dtype` ('<i8', '<f4', '<f8'); `shape` may lie."""
    fmt = {"<i8": "q", "<f4": "f", "<f8": "d"}[dtype]
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%d,), }" % (dtype, shape or len(array))
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return (b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode()
            + struct.pack("<%d%s" % (len(array), fmt), *array))


def npz(arrays):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, (values, dtype, *shape) in arrays.items():
            z.writestr(f"{name}.npy", npy(values, dtype, *shape))
    return buffer.getvalue()


def small_graph(**changes):
    """A 4-node path graph with 2 features and 2 classes, in cora.npz's layout."""
    arrays = {
        "adj_data": ([1.0] * 6, "<f4"), "adj_indices": ([1, 0, 2, 1, 3, 2], "<i8"),
        "adj_indptr": ([0, 1, 3, 5, 6], "<i8"), "adj_shape": ([4, 4], "<i8"),
        "attr_data": ([1.0, 1.0, 1.0, 1.0], "<f4"), "attr_indices": ([0, 1, 0, 1], "<i8"),
        "attr_indptr": ([0, 1, 2, 3, 4], "<i8"), "attr_shape": ([4, 2], "<i8"),
        "labels": ([0, 1, 0, 1], "<i8"),
    }
    arrays.update(changes)
    return npz({k: v for k, v in arrays.items() if v is not None})


def text_and_graph_cases():
    sentiment = lambda f: ["run", "sentiment", "--quick", "--data", f"@/text/{f}", "--text-column", "text",
                           "--target", "label"]
    write("text/no-text-column.csv", "review,label\ngood,1\nbad,0\n")
    case("text csv without the text column", sentiment("no-text-column.csv"), 1,
         ["no-text-column.csv", '"text"'])
    write("text/one-class.csv", "text,label\ngood film,1\ngreat film,1\nfine film,1\nnice film,1\n")
    case("text csv of one class", sentiment("one-class.csv"), 1, ["one-class.csv", "class"])
    write("text/not-utf8.csv", b"text,label\n\xff\xfe bad bytes,1\ngood,0\n")
    case("text csv that is not utf-8", sentiment("not-utf8.csv"), 1, ["not-utf8.csv", "row 2"])
    write("text/empty.csv", "")
    case("text csv that is empty", sentiment("empty.csv"), 1, ["empty.csv"])
    write("text/ragged.csv", "text,label\ngood,1\nbad,0,extra\n")
    case("text csv with a ragged row", sentiment("ragged.csv"), 1, ["ragged.csv", "row 3"])

    gcn = lambda *f: ["run", "gcn", "--data"] + [x for p in f for x in p]
    write("graph/nodes.csv", "id,label,f1\na,0,1\nb,1,0\nc,0,1\nd,1,0\n")
    write("graph/edges-unknown.csv", "source,target\na,b\nb,zed\n")
    case("graph edge to an unknown node",
         ["run", "gcn", "--data", "@/graph/edges-unknown.csv", "--nodes", "@/graph/nodes.csv"], 1,
         ["edges-unknown.csv", "zed"])
    write("graph/edges-self.csv", "source,target\na,a\nb,b\n")
    case("graph of self-loops only",
         ["run", "gcn", "--data", "@/graph/edges-self.csv", "--nodes", "@/graph/nodes.csv"], 1,
         ["edges-self.csv"])
    write("graph/edges.csv", "source,target\na,b\nb,c\nc,d\n")
    write("graph/nodes-unlabelled-class.csv", "id,label,f1\na,0,1\nb,0,0\nc,,1\nd,,0\n")
    case("graph whose labelled nodes are all of one class",
         ["run", "gcn", "--data", "@/graph/edges.csv", "--nodes", "@/graph/nodes-unlabelled-class.csv"], 1,
         ["nodes-unlabelled-class.csv", "class"])
    write("graph/nodes-text-feature.csv", "id,label,f1\na,0,1\nb,1,zero\nc,0,1\nd,1,0\n")
    case("graph feature that is not a number",
         ["run", "gcn", "--data", "@/graph/edges.csv", "--nodes", "@/graph/nodes-text-feature.csv"], 1,
         ["nodes-text-feature.csv", "zero"])
    case("graph csv without --nodes", ["run", "gcn", "--data", "@/graph/edges.csv"], 2, ["--nodes"])
    write("graph/arrays-disagree.npz", small_graph(attr_shape=([5, 2], "<i8")))
    case("graph npz whose arrays disagree", ["run", "gcn", "--data", "@/graph/arrays-disagree.npz"], 1,
         ["arrays-disagree.npz", "attr_shape"])
    write("graph/no-labels.npz", small_graph(labels=None))
    case("graph npz without labels", ["run", "gcn", "--data", "@/graph/no-labels.npz"], 1,
         ["no-labels.npz", "labels"])
    # labels.npy claims 10¹² labels (8 TB) in a few bytes: refused before any allocation
    write("graph/huge-shape.npz", small_graph(labels=([0, 1, 0, 1], "<i8", 10**12)))
    case("graph npz whose array claims 10^12 values", ["run", "gcn", "--data", "@/graph/huge-shape.npz"], 1,
         ["huge-shape.npz", "labels"])
    write("graph/garbage.npz", b"PK\x03\x04" + bytes(200))
    case("graph npz that is no zip", ["run", "gcn", "--data", "@/graph/garbage.npz"], 1, ["garbage.npz"])
    write("graph/index-out-of-range.npz", small_graph(adj_indices=([1, 0, 2, 1, 9, 2], "<i8")))
    case("graph npz with a node index out of range",
         ["run", "gcn", "--data", "@/graph/index-out-of-range.npz"], 1, ["index-out-of-range.npz", "9"])


def main():
    binary = os.path.abspath(sys.argv[1])
    for sub in ["idx", "csv", "png", "config", "checkpoint", "bpk", "text", "graph"]:
        shutil.rmtree(os.path.join(ROOT, sub), ignore_errors=True)
    write("png/digit.png", png(28, 28, pixels=[0] * 10 + [255] * 8 + [0] * 10))
    idx_cases()
    csv_cases()
    flag_cases()
    png_cases()
    run_dir_cases(binary)
    text_and_graph_cases()

    def toml_list(xs):
        return "[" + ", ".join('"%s"' % x.replace("\\", "\\\\").replace('"', '\\"') for x in xs) + "]"

    out = ["# The malformed-input corpus: written by make.py, run by tests/cli/corpus.rs.",
           "# args: `@/` is this folder, RUN the run made from `base` with `files` laid over it,",
           "# OUT a scratch folder. code: the exit code. names: what the one error line must name.", ""]
    for name, args, code, names, base, files in CASES:
        out.append("[[case]]")
        out.append(f'name = "{name}"')
        out.append(f"args = {toml_list(args)}")
        out.append(f"code = {code}")
        out.append(f"names = {toml_list(names)}")
        if base:
            out.append(f'base = "{base}"')
        if files:
            out.append("files = { " + ", ".join(f'"{k}" = "{v}"' for k, v in files.items()) + " }")
        out.append("")
    write("cases.toml", "\n".join(out))
    print(f"{len(CASES)} cases")


main()
