"""Helpers for test_converters.sh: writes small sources in each real format,
checks converted files against them exactly, and makes malformed HDF5 files.

usage: converters.py make DIR             write sources under DIR/<kind>/
       converters.py check KIND DIR OUT   compare OUT with the sources in DIR
       converters.py synth A B C          A, B same seed; C another seed
       converters.py bad-hdf5 GOOD DIR    malformed copies of GOOD in DIR
"""
import gzip
import os
import sys

import h5py
import numpy as np

FASHION = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
           "Sneaker", "Bag", "Ankle boot"]


def idx_bytes(array, magic_dims):
    header = bytes([0, 0, 8, magic_dims]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def sources(d):
    """The arrays every source directory is made from: HWC images, labels."""
    n = {"fashion": (23, 9), "cifar10": (17, 6), "cifar100": (13, 5)}[d]
    hwc = (28, 28, 1) if d == "fashion" else (32, 32, 3)
    classes = {"fashion": 10, "cifar10": 10, "cifar100": 100}[d]
    rng = np.random.default_rng({"fashion": 1, "cifar10": 2, "cifar100": 3}[d])
    out = {}
    for split, count in zip(("train", "test"), n):
        out[split] = (rng.integers(0, 256, (count,) + hwc, dtype=np.uint8),
                      rng.integers(0, classes, count).astype(np.int32),
                      rng.integers(0, 20, count).astype(np.int32))
    return out


def write(path, data, gz):
    if gz:
        with gzip.open(path + ".gz", "wb") as f:
            f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)


def make(root):
    src = sources("fashion")
    d = os.path.join(root, "fashion")
    os.makedirs(d)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels, _ = src[split]
        # one split gzipped, the other plain: both must be read
        gz = split == "train"
        write(os.path.join(d, prefix + "-images-idx3-ubyte"), idx_bytes(images[..., 0], 3), gz)
        write(os.path.join(d, prefix + "-labels-idx1-ubyte"), idx_bytes(labels, 1), gz)

    def records(images, labels, coarse=None):
        chw = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
        head = [labels[:, None]] if coarse is None else [coarse[:, None], labels[:, None]]
        return np.concatenate(head + [chw], axis=1).astype(np.uint8).tobytes()

    src = sources("cifar10")
    d = os.path.join(root, "cifar10")
    os.makedirs(d)
    images, labels, _ = src["train"]
    cuts = [0, 4, 7, 10, 14, 17]  # five batches of different sizes
    for b in range(5):
        s = slice(cuts[b], cuts[b + 1])
        write(os.path.join(d, "data_batch_%d.bin" % (b + 1)), records(images[s], labels[s]), False)
    write(os.path.join(d, "test_batch.bin"), records(*src["test"][:2]), False)
    with open(os.path.join(d, "batches.meta.txt"), "w") as f:
        f.write("\n".join("c10_%d" % k for k in range(10)) + "\n\n\n")

    src = sources("cifar100")
    d = os.path.join(root, "cifar100")
    os.makedirs(d)
    for split in ("train", "test"):
        images, labels, coarse = src[split]
        write(os.path.join(d, split + ".bin"), records(images, labels, coarse), False)
    with open(os.path.join(d, "fine_label_names.txt"), "w") as f:
        f.write("".join("fine_%d\r\n" % k for k in range(100)))


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def check(kind, root, out):
    key = {"fashion-mnist": "fashion", "cifar10": "cifar10", "cifar100": "cifar100"}[kind]
    src = sources(key)
    f = h5py.File(out, "r")
    names = {"fashion": FASHION, "cifar10": ["c10_%d" % k for k in range(10)],
             "cifar100": ["fine_%d" % k for k in range(100)]}[key]
    if f.attrs["format"] != "bmst_dataset" or int(f.attrs["version"]) != 1:
        fail("format/version attributes")
    if int(f.attrs["classes"]) != len(names):
        fail("classes %r" % f.attrs["classes"])
    if [str(s) for s in f.attrs["class_names"]] != names:
        fail("class names %r" % list(f.attrs["class_names"]))
    for split in ("train", "test"):
        images, labels, coarse = src[split]
        got = f[split + "/images"]
        if got.dtype != np.uint8 or got.shape != images.shape:
            fail("%s images %s %s" % (split, got.dtype, got.shape))
        if got.chunks != (min(len(images), 16),) + images.shape[1:]:
            fail("chunks %r" % (got.chunks,))
        if not np.array_equal(got[:], images):
            fail("%s pixels differ" % split)
        if f[split + "/labels"].dtype != np.int32 or not np.array_equal(f[split + "/labels"][:], labels):
            fail("%s labels differ" % split)
        if key == "cifar100":
            if not np.array_equal(f[split + "/coarse_labels"][:], coarse):
                fail("%s coarse labels differ" % split)
            if int(f.attrs["coarse_classes"]) != 20:
                fail("coarse_classes")
        elif split + "/coarse_labels" in f:
            fail("unexpected coarse labels")
    x = src["train"][0].astype(np.float64) / 255.0
    axes = (0, 1, 2)
    if not np.allclose(f.attrs["mean"], x.mean(axis=axes), atol=1e-6, rtol=0):
        fail("mean %r vs %r" % (f.attrs["mean"], x.mean(axis=axes)))
    if not np.allclose(f.attrs["std"], x.std(axis=axes), atol=1e-6, rtol=0):
        fail("std %r vs %r" % (f.attrs["std"], x.std(axis=axes)))
    print("ok", kind)


def synth(a, b, c):
    fa, fb, fc = (h5py.File(p, "r") for p in (a, b, c))
    xa = fa["train/images"][:]
    if not (np.array_equal(xa, fb["train/images"][:]) and
            np.array_equal(fa["test/images"][:], fb["test/images"][:])):
        fail("same seed, different data")
    if np.array_equal(xa, fc["train/images"][:]):
        fail("another seed, same data")
    # learnable: nearest class mean of the training images classifies the test set
    ya, xt, yt = fa["train/labels"][:], fa["test/images"][:], fa["test/labels"][:]
    k = int(fa.attrs["classes"])
    means = np.stack([xa[ya == j].reshape((ya == j).sum(), -1).mean(0) for j in range(k)])
    flat = xt.reshape(len(xt), -1).astype(np.float64)
    pred = ((flat[:, None, :] - means[None]) ** 2).sum(-1).argmin(1)
    acc = (pred == yt).mean()
    if acc < 0.9:
        fail("nearest-mean accuracy %.3f" % acc)
    if xa.std() < 10:
        fail("no variation")
    print("ok synth, nearest-mean accuracy %.3f" % acc)


def bad_hdf5(good, d):
    """Copies of GOOD with one defect each: float images, rank-3 images,
    int64 labels, a missing attribute."""
    def copy(name, edit):
        path = os.path.join(d, name)
        with h5py.File(good, "r") as src, h5py.File(path, "w") as dst:
            for k, v in src.attrs.items():
                dst.attrs[k] = v
            for split in ("train", "test"):
                for key in src[split]:
                    dst[split + "/" + key] = src[split + "/" + key][:]
            edit(dst)

    def retype(f, key, array):
        del f[key]
        f[key] = array

    copy("float_images.h5", lambda f: retype(f, "train/images", f["train/images"][:].astype(np.float32)))
    copy("rank3_images.h5", lambda f: retype(f, "test/images", f["test/images"][:, :, :, 0]))
    copy("int64_labels.h5", lambda f: retype(f, "train/labels", f["train/labels"][:].astype(np.int64)))
    copy("no_mean.h5", lambda f: f.attrs.__delitem__("mean"))
    copy("copy_ok.h5", lambda f: None)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2])
    elif cmd == "check":
        check(*sys.argv[2:5])
    elif cmd == "synth":
        synth(*sys.argv[2:5])
    elif cmd == "bad-hdf5":
        bad_hdf5(*sys.argv[2:4])
    else:
        fail("unknown command " + cmd)
