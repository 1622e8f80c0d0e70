"""Helpers for test_converters.sh: writes small sources in each real format,
checks converted files against them exactly, and makes malformed HDF5 files.

usage: converters.py make DIR             write sources under DIR/<kind>/ (CIFAR also
                                          in the Python release, DIR/<kind>-py*/) and
                                          broken pieces under DIR/defects/
       converters.py check KIND DIR OUT [--swapped] [--official-val] [--skip FILE,...]
                                          compare OUT with the sources in DIR
       converters.py check-folder TREE OUT SIZE [--test-fraction F]
                                          OUT against torchvision's ImageFolder of TREE
       converters.py same A B             A and B hold the same data and attributes
       converters.py val WHOLE SPLIT F    SPLIT is WHOLE with round(F * n_c) of each
                                          class's training samples moved to /val
       converters.py synth A B C          A, B same seed; C another seed
       converters.py bad-hdf5 GOOD DIR    malformed copies of GOOD in DIR

JPEG sources are written with PIL (Debian's python3-pil, on the same
libjpeg-turbo) and .mat files with scipy.io.savemat (python3-scipy).
"""
import gzip
import os
import pickle
import struct
import sys

import h5py
import numpy as np
import scipy.io
from PIL import Image

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

    make_cifar_pickles(root)
    make_folder(os.path.join(root, "folder"))
    make_flowers(os.path.join(root, "flowers"))
    make_mini(os.path.join(root, "mini"))
    make_defects(os.path.join(root, "defects"))


# --- CIFAR's Python release ---------------------------------------------------
def py2_pickle(obj):
    """obj as Python 2's cPickle writes it at protocol 2, the way the release's
    files were made: str (here: bytes) as SHORT_BINSTRING or BINSTRING, lists
    and dicts filled from a mark, numpy arrays through _reconstruct and
    BUILD, a memo entry after every container and name."""
    out = bytearray(b"\x80\x02")
    memo = [0]

    def put():
        out.extend(b"q" + bytes([memo[0]]) if memo[0] < 256 else b"r" + struct.pack("<I", memo[0]))
        memo[0] += 1

    def text(b):
        out.extend(b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b)

    def integer(v):
        if 0 <= v < 256:
            out.extend(b"K" + bytes([v]))
        elif 0 <= v < 65536:
            out.extend(b"M" + struct.pack("<H", v))
        else:
            out.extend(b"J" + struct.pack("<i", v))

    def dump(o):
        if isinstance(o, dict):
            out.extend(b"}"); put(); out.extend(b"(")
            for k, v in o.items():
                dump(k); dump(v)
            out.extend(b"u")
        elif isinstance(o, list):
            out.extend(b"]"); put(); out.extend(b"(")
            for v in o:
                dump(v)
            out.extend(b"e")
        elif isinstance(o, bytes):
            text(o)
        elif isinstance(o, int):
            integer(o)
        elif isinstance(o, np.ndarray):
            out.extend(b"cnumpy.core.multiarray\n_reconstruct\n"); put()
            out.extend(b"cnumpy\nndarray\n"); put()
            integer(0); out.extend(b"\x85"); put(); text(b"b"); out.extend(b"\x87R"); put()
            out.extend(b"("); integer(1)
            for d in o.shape:
                integer(d)
            out.extend(b"\x86"); put()
            out.extend(b"cnumpy\ndtype\n"); put()
            text(b"u1"); integer(0); integer(1); out.extend(b"\x87R"); put()
            out.extend(b"("); integer(3); text(b"|"); out.extend(b"NNN")
            integer(-1); integer(-1); integer(0); out.extend(b"tb")
            out.extend(b"\x89"); text(o.tobytes()); out.extend(b"tb")
        else:
            raise TypeError(type(o))
    dump(obj)
    out.extend(b".")
    return bytes(out)


def make_cifar_pickles(root):
    """The images of the binary sources as the Python release holds them:
    cifar10-py/cifar-10-batches-py/ (the folder torchvision's root holds)
    and cifar100-py/ as Python 2 wrote them, and cifar10-py3-2/, -py3-5/ as
    Python 3 pickles the same dicts again at protocols 2 and 5."""
    def planar(images):
        return np.ascontiguousarray(images.transpose(0, 3, 1, 2).reshape(len(images), -1))

    def batch(images, labels, key=b"labels", coarse=None):
        d = {b"batch_label": b"batch", key: [int(v) for v in labels], b"data": planar(images),
             b"filenames": [b"img_%d.png" % k for k in range(len(labels))]}
        if coarse is not None:
            d[b"coarse_labels"] = [int(v) for v in coarse]
        return d

    src = sources("cifar10")
    images, labels, _ = src["train"]
    cuts = [0, 4, 7, 10, 14, 17]
    files = {"data_batch_%d" % (b + 1): batch(images[cuts[b]:cuts[b + 1]], labels[cuts[b]:cuts[b + 1]])
             for b in range(5)}
    files["test_batch"] = batch(*src["test"][:2])
    files["batches.meta"] = {b"label_names": [b"c10_%d" % k for k in range(10)],
                             b"num_vis": 3072, b"num_cases_per_batch": 10000}
    for folder, write_one in (("cifar10-py/cifar-10-batches-py", py2_pickle),
                              ("cifar10-py3-2", lambda o: pickle.dumps(o, protocol=2)),
                              ("cifar10-py3-5", lambda o: pickle.dumps(o, protocol=5))):
        d = os.path.join(root, folder)
        os.makedirs(d)
        for name, obj in files.items():
            write(os.path.join(d, name), write_one(obj), False)

    src = sources("cifar100")
    d = os.path.join(root, "cifar100-py")
    os.makedirs(d)
    for split in ("train", "test"):
        images, labels, coarse = src[split]
        write(os.path.join(d, split), py2_pickle(batch(images, labels, b"fine_labels", coarse)), False)
    write(os.path.join(d, "meta"), py2_pickle({
        b"fine_label_names": [b"fine_%d" % k for k in range(100)],
        b"coarse_label_names": [b"coarse_%d" % k for k in range(20)]}), False)


# --- image folders (ImageFolder's layout) ---------------------------------------
FOLDER_SIZE = 8
# class folder -> its files, relative; names chosen so that byte order, and
# sorted(os.walk) over paths ("s-t" before "s/u"), decide the order
FOLDER_TREE = {
    "b": ["x1.png", "x0.jpg", "s/u/late.png", "s-t/mid.JPEG", "s/early.PNG", "notes.txt"],
    "a": ["only.jpg", "gray.png", "pal.png", "la.png", "rgba.png"],
    "C": ["big.jpg", "wide.png"],
    "dog_2": ["g.jpg"],
    "dog-1": ["h.png"],
}


def save_image(path, rng, name):
    """A small image whose kind the file name says: PNG in modes RGB, RGBA,
    L, LA and P (with a transparent entry), JPEG in RGB or L; some square at
    FOLDER_SIZE (stored exactly), some not (resized)."""
    h, w = {"big.jpg": (20, 13), "wide.png": (8, 15), "x1.png": (11, 9)}.get(name, (FOLDER_SIZE,) * 2)
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if name.lower().endswith(("jpg", "jpeg")):
        Image.fromarray(rgb).save(path, "JPEG", quality=95)
    elif name == "gray.png":
        Image.fromarray(rgb[..., 0]).save(path)
    elif name == "la.png":
        Image.fromarray(np.dstack([rgb[..., 0], rgb[..., 1]]), "LA").save(path)
    elif name == "rgba.png":
        Image.fromarray(np.dstack([rgb, rgb[..., :1]]), "RGBA").save(path)
    elif name == "pal.png":
        im = Image.fromarray(rgb).quantize(16)
        im.info["transparency"] = 3
        im.save(path, transparency=3)
    else:
        Image.fromarray(rgb).save(path, "PNG")


def make_folder(d):
    """folder/split/{train,test}/CLASS/... and folder/tree/CLASS/... (one
    tree, for --test-fraction), plus folder/bmp/ with a BMP among them."""
    rng = np.random.default_rng(7)
    for root in ("split/train", "split/test", "tree"):
        for cls, files in FOLDER_TREE.items():
            if root == "split/test" and cls == "dog_2":
                continue  # a class without test images
            for name in files:
                path = os.path.join(d, root, cls, name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                if name.endswith(".txt"):
                    with open(path, "w") as f:
                        f.write("not an image: ImageFolder ignores it\n")
                else:
                    save_image(path, rng, name)
    for cls in ("a", "b"):
        os.makedirs(os.path.join(d, "bmp", cls))
        for name in ("ok.png", "ok2.png"):
            save_image(os.path.join(d, "bmp", cls, name), rng, name)
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
        os.path.join(d, "bmp", "b", "pic.bmp"))


def check_folder(tree, out, size, *opts):
    """OUT holds TREE as ImageFolder numbers it: the classes, and each split's
    samples in ImageFolder's order with its labels (train/ and test/ trees);
    for one tree, a stratified partition of ImageFolder's samples into train
    and test, each in order."""
    import torchvision
    size = int(size)
    f = h5py.File(out, "r")
    split_dirs = os.path.isdir(os.path.join(tree, "train"))
    ref = torchvision.datasets.ImageFolder(os.path.join(tree, "train") if split_dirs else tree)
    if [str(s) for s in f.attrs["class_names"]] != ref.classes:
        fail("classes %r, ImageFolder %r" % (list(f.attrs["class_names"]), ref.classes))
    exact = 0
    if split_dirs:
        test = torchvision.datasets.ImageFolder(os.path.join(tree, "test"))
        test_samples = [(p, ref.class_to_idx[test.classes[t]]) for p, t in test.samples]
        for split, samples in (("train", ref.samples), ("test", test_samples)):
            exact += check_samples(f, split, [p for p, _ in samples], [t for _, t in samples], size)
    else:
        fraction = float(opts[opts.index("--test-fraction") + 1])
        train, test = f["train/images"][:], f["test/images"][:]
        tl, sl = f["train/labels"][:], f["test/labels"][:]
        t = v = 0
        for path, label in ref.samples:
            side = "train" if t < len(tl) and tl[t] == label and compare_ok(train[t], path, size) else "test"
            if side == "train":
                t += 1
            elif v < len(sl) and sl[v] == label and compare_ok(test[v], path, size):
                v += 1
            else:
                fail("%s is in neither split in order" % path)
        if t != len(tl) or v != len(sl):
            fail("extra samples")
        for c in range(len(ref.classes)):
            n = sum(1 for _, l in ref.samples if l == c)
            if np.sum(sl == c) != int(np.floor(fraction * n + 0.5)):
                fail("class %d: %d test samples of %d" % (c, np.sum(sl == c), n))
    print("ok folder (%d images compared exactly)" % exact)


def compare_ok(got, path, size):
    ref, exact = pil_reference(path, size)
    diff = np.abs(got.astype(np.int32) - ref.astype(np.int32))
    return diff.max() == 0 if exact else diff.max() <= 1


# --- JPEG sources -------------------------------------------------------------
# Flowers 102: 14 images, image 14 in no split (and without a file: unused).
# Shapes (h, w) and how each is saved; square 16x16 ones are stored unresampled.
FLOWERS_SIZE = 16
FLOWERS_SHAPES = {1: (16, 16), 2: (16, 16), 3: (40, 27), 4: (19, 33), 5: (16, 16),
                  6: (100, 60), 7: (7, 9), 8: (16, 16), 9: (31, 16), 10: (16, 16),
                  11: (16, 20), 12: (64, 64), 13: (16, 16)}
FLOWERS_GRAY = {2, 9}
FLOWERS_SPLITS = {"trnid": [3, 1, 7], "valid": [10, 2], "tstid": [13, 4, 5, 6, 8, 9, 11, 12]}

MINI_SIZE = 12
MINI_TEST_PER_CLASS = 2
# class -> (csv it is listed in, image count); the sorted order differs
MINI_CLASSES = {"n03017168": ("train", 5), "n01532829": ("train", 4), "n04596742": ("val", 6),
                "n01930112": ("test", 3), "n02074367": ("test", 4)}


def save_jpeg(path, rng, h, w, gray=False, **kw):
    """Random smooth-ish pixels, quality 100 without chroma subsampling unless
    kw says otherwise."""
    base = rng.integers(0, 256, (h, w, 3)).astype(np.float64)
    img = (0.5 * base + 0.5 * np.roll(base, 1, axis=1)).astype(np.uint8)
    im = Image.fromarray(img)
    if gray:
        im = im.convert("L")
    opts = {"quality": 100, "subsampling": 0}
    opts.update(kw)
    im.save(path, "JPEG", **opts)


def flowers_labels():
    labels = np.random.default_rng(7).integers(1, 103, 14)
    labels[0], labels[1] = 1, 102  # both ends of the range
    return labels


def make_flowers(d):
    rng = np.random.default_rng(5)
    os.makedirs(os.path.join(d, "jpg"))
    for i, (h, w) in FLOWERS_SHAPES.items():
        extra = {"quality": 90, "subsampling": 2} if i == 8 else {}  # 4:2:0 as cameras write
        if i == 10:
            extra = {"quality": 95, "progressive": True}
        save_jpeg(os.path.join(d, "jpg", "image_%05d.jpg" % i), rng, h, w, i in FLOWERS_GRAY,
                  **extra)
    # labels as the original: double 1x8189; one list as uint16, setid compressed
    scipy.io.savemat(os.path.join(d, "imagelabels.mat"),
                     {"labels": flowers_labels()[None, :].astype(np.float64)})
    ids = {k: np.array([v], dtype=np.uint16 if k == "valid" else np.float64)
           for k, v in FLOWERS_SPLITS.items()}
    scipy.io.savemat(os.path.join(d, "setid.mat"), ids, do_compression=True)


def mini_files():
    """{wnid: sorted file names}."""
    rng = np.random.default_rng(9)
    out = {}
    for wnid, (_, count) in MINI_CLASSES.items():
        numbers = sorted(rng.choice(1300, count, replace=False))
        out[wnid] = ["%s%08d.jpg" % (wnid, k) for k in numbers]
    return out


def make_mini(d):
    rng = np.random.default_rng(11)
    os.makedirs(os.path.join(d, "images"))
    rows = {"train": [], "val": [], "test": []}
    odd = [(20, 14), (12, 30), (9, 9), (30, 12), (5, 12)]  # one shape per class: resampled
    for c, (wnid, files) in enumerate(mini_files().items()):
        for j, name in enumerate(files):
            h, w = (MINI_SIZE, MINI_SIZE) if j % 3 else odd[c]
            save_jpeg(os.path.join(d, "images", name), rng, h, w, gray=(c == 2 and j == 1))
            rows[MINI_CLASSES[wnid][0]].append(name + "," + wnid)
    save_jpeg(os.path.join(d, "images", "n09999999" + "00000001.jpg"), rng, 12, 12)  # unlisted
    for split, lines in rows.items():
        order = np.random.default_rng(len(lines)).permutation(len(lines))
        with open(os.path.join(d, split + ".csv"), "w") as f:
            f.write("filename,label\n" + "".join(lines[k] + "\n" for k in order))


def make_defects(d):
    """Broken pieces the shell test puts into copies of the good sources."""
    os.makedirs(d)
    with open(os.path.join(d, "not_jpeg.jpg"), "w") as f:
        f.write("this is not a JPEG file\n")
    rng = np.random.default_rng(13)
    good = os.path.join(d, "good.jpg")
    save_jpeg(good, rng, 16, 16)
    data = bytearray(open(good, "rb").read())
    sos = data.index(b"\xff\xda")
    mid = (sos + len(data)) // 2
    data[mid:mid + 2] = b"\xff\xd0"  # a restart marker inside the scan: damaged data
    with open(os.path.join(d, "damaged.jpg"), "wb") as f:
        f.write(data)
    Image.new("CMYK", (16, 16), (10, 20, 30, 40)).save(os.path.join(d, "cmyk.jpg"), "JPEG")
    labels = flowers_labels()[None, :].astype(np.float64)
    labels[0, 4] = 103
    scipy.io.savemat(os.path.join(d, "labels_103.mat"), {"labels": labels})
    splits = {k: np.array([v], dtype=np.float64) for k, v in FLOWERS_SPLITS.items()}

    def setid(name, **change):
        scipy.io.savemat(os.path.join(d, name), {k: v for k, v in dict(splits, **change).items()
                                                 if v is not None})
    setid("setid_no_valid.mat", valid=None)
    setid("setid_overlap.mat", tstid=np.array([[13, 4, 5, 6, 8, 9, 11, 12, 7]], dtype=np.float64))
    setid("setid_twice.mat", trnid=np.array([[3, 1, 7, 1]], dtype=np.float64))
    setid("setid_range.mat", tstid=np.array([[13, 15]], dtype=np.float64))
    setid("setid_fraction.mat", valid=np.array([[10, 2.5]]))


def pil_reference(path, size):
    """What the converter must store for the JPEG at path: exactly PIL's
    decode when the central square is already size x size (exact=True), else
    the central square resized by PIL's antialiased bilinear filter, which
    rounds differently (exact=False: within 1)."""
    im = Image.open(path).convert("RGB")
    w, h = im.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    im = im.crop((left, top, left + side, top + side))
    if side == size:
        return np.asarray(im), True
    return np.asarray(im.resize((size, size), Image.BILINEAR)), False


def compare_pixels(what, got, path, size):
    ref, exact = pil_reference(path, size)
    diff = np.abs(got.astype(np.int32) - ref.astype(np.int32))
    if exact and diff.max() != 0:
        fail("%s: %s differs from its decode by up to %d" % (what, path, diff.max()))
    if not exact and (diff.max() > 1 or diff.mean() > 0.5):
        fail("%s: %s differs from PIL's resize by up to %d (mean %.3f)" %
             (what, path, diff.max(), diff.mean()))
    return exact


def check_common(f, name, classes, size):
    if f.attrs["format"] != "bmst_dataset" or int(f.attrs["version"]) != 1:
        fail("format/version attributes")
    if f.attrs["name"] != name or int(f.attrs["classes"]) != classes:
        fail("name %r classes %r" % (f.attrs["name"], f.attrs["classes"]))
    for split in ("train", "test"):
        images = f[split + "/images"]
        if images.dtype != np.uint8 or images.shape[1:] != (size, size, 3):
            fail("%s images %s %s" % (split, images.dtype, images.shape))
        if f[split + "/labels"].dtype != np.int32:
            fail("%s labels dtype" % split)
    x = f["train/images"][:].astype(np.float64) / 255.0
    if not (np.allclose(f.attrs["mean"], x.mean(axis=(0, 1, 2)), atol=1e-6, rtol=0) and
            np.allclose(f.attrs["std"], x.std(axis=(0, 1, 2)), atol=1e-6, rtol=0)):
        fail("mean/std %r %r vs %r %r" % (f.attrs["mean"], f.attrs["std"],
                                          x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2))))


def check_samples(f, split, files, labels, size):
    """The split holds files (paths) with labels, in this order."""
    images, got = f[split + "/images"][:], f[split + "/labels"][:]
    if len(images) != len(files) or not np.array_equal(got, np.array(labels, dtype=np.int32)):
        fail("%s labels %r, expected %r" % (split, list(got), list(labels)))
    return sum(compare_pixels(split, images[k], path, size) for k, path in enumerate(files))


def check_flowers(root, out, swapped, skip, official_val=False):
    d = os.path.join(root, "flowers")
    f = h5py.File(out, "r")
    check_common(f, "flowers102-swapped" if swapped else "flowers102", 102, FLOWERS_SIZE)
    if "class_names" in f.attrs:
        fail("flowers102 has no class names")
    labels = flowers_labels()
    lists = {"train": FLOWERS_SPLITS["trnid"] + FLOWERS_SPLITS["valid"],
             "test": FLOWERS_SPLITS["tstid"]}
    if swapped:
        lists = {"train": lists["test"], "test": lists["train"]}
    if official_val:
        lists = {"train": FLOWERS_SPLITS["trnid"], "val": FLOWERS_SPLITS["valid"],
                 "test": FLOWERS_SPLITS["tstid"]}
    elif "val" in f:
        fail("a /val without --official-val")
    exact = 0
    for split, ids in lists.items():
        names = ["image_%05d.jpg" % i for i in ids]
        keep = [k for k, n in enumerate(names) if n not in skip]
        exact += check_samples(f, split, [os.path.join(d, "jpg", names[k]) for k in keep],
                               [labels[ids[k] - 1] - 1 for k in keep], FLOWERS_SIZE)
    print("ok flowers102%s%s (%d images compared exactly)" % (
        " swapped" if swapped else "", " official val" if official_val else "", exact))


def check_mini(root, out):
    d = os.path.join(root, "mini")
    f = h5py.File(out, "r")
    wnids = sorted(MINI_CLASSES)
    check_common(f, "miniimagenet", len(wnids), MINI_SIZE)
    if [str(s) for s in f.attrs["class_names"]] != wnids:
        fail("class names %r" % list(f.attrs["class_names"]))
    files = mini_files()
    exact = 0
    for split in ("train", "test"):
        paths, labels = [], []
        for c, wnid in enumerate(wnids):
            n = len(files[wnid]) - MINI_TEST_PER_CLASS
            chosen = files[wnid][:n] if split == "train" else files[wnid][n:]
            paths += [os.path.join(d, "images", name) for name in chosen]
            labels += [c] * len(chosen)
        exact += check_samples(f, split, paths, labels, MINI_SIZE)
    print("ok miniimagenet (%d images compared exactly)" % exact)


def same(a, b):
    fa, fb = h5py.File(a, "r"), h5py.File(b, "r")
    if sorted(fa.attrs) != sorted(fb.attrs):
        fail("attribute names differ")
    for k in fa.attrs:
        if not np.array_equal(np.asarray(fa.attrs[k]), np.asarray(fb.attrs[k])):
            fail("attribute %s differs" % k)
    if ("val" in fa) != ("val" in fb):
        fail("one file has /val")
    for split in ("train", "test") + (("val",) if "val" in fa else ()):
        if sorted(fa[split]) != sorted(fb[split]):
            fail("%s datasets differ" % split)
        for key in fa[split]:
            x, y = fa[split][key], fb[split][key]
            if x.dtype != y.dtype or x.chunks != y.chunks or not np.array_equal(x[:], y[:]):
                fail("%s/%s differs" % (split, key))
    print("ok same")


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def val(whole, split, fraction):
    """The validation split: a partition of the training samples that keeps
    their order, with floor(F * n_c + 0.5) of class c's n_c in /val; the
    test split and the attributes other than mean and std untouched; mean
    and std those of the remaining training pixels."""
    fw, fs = h5py.File(whole, "r"), h5py.File(split, "r")
    fraction = float(fraction)
    images, labels = fw["train/images"][:], fw["train/labels"][:]
    coarse = fw["train/coarse_labels"][:] if "coarse_labels" in fw["train"] else None
    ti, tl, vi, vl = (fs[k][:] for k in ("train/images", "train/labels", "val/images", "val/labels"))
    for c in range(int(fw.attrs["classes"])):
        want = int(np.floor(fraction * np.sum(labels == c) + 0.5))
        if np.sum(vl == c) != want:
            fail("class %d: %d in /val, expected %d" % (c, np.sum(vl == c), want))
    # the samples' order: walk the original, each sample goes to one side
    t = v = 0
    for i in range(len(labels)):
        if v < len(vl) and vl[v] == labels[i] and np.array_equal(vi[v], images[i]) and (
                t >= len(tl) or not (tl[t] == labels[i] and np.array_equal(ti[t], images[i]))):
            v += 1
        elif t < len(tl) and tl[t] == labels[i] and np.array_equal(ti[t], images[i]):
            t += 1
        else:
            fail("training sample %d is in neither split in order" % i)
    if t != len(tl) or v != len(vl):
        fail("extra samples in the splits")
    if coarse is not None and len(fs["val/coarse_labels"]) != len(vl):
        fail("val coarse labels")
    for k in ("test/images", "test/labels"):
        if not np.array_equal(fw[k][:], fs[k][:]):
            fail(k + " changed")
    x = ti.astype(np.float64) / 255.0
    if not np.allclose(fs.attrs["mean"], x.mean(axis=(0, 1, 2)), atol=1e-6, rtol=0):
        fail("mean is not the remaining training pixels'")
    print("ok val", len(tl), len(vl))


def check(kind, root, out, *opts):
    if kind in ("flowers102", "miniimagenet"):
        skip = opts[opts.index("--skip") + 1].split(",") if "--skip" in opts else []
        if kind == "flowers102":
            check_flowers(root, out, "--swapped" in opts, skip, "--official-val" in opts)
        else:
            check_mini(root, out)
        return
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
    int64 labels, a missing attribute, a /val of another shape, a /val label
    out of range."""
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
    copy("val_shape.h5", lambda f: (f.__setitem__("val/images", f["test/images"][:, :16]),
                                    f.__setitem__("val/labels", f["test/labels"][:])))
    copy("val_label.h5", lambda f: (f.__setitem__("val/images", f["test/images"][:]),
                                    f.__setitem__("val/labels", f["test/labels"][:] + 10)))
    copy("copy_ok.h5", lambda f: None)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2])
    elif cmd == "check":
        check(*sys.argv[2:])
    elif cmd == "same":
        same(*sys.argv[2:4])
    elif cmd == "check-folder":
        check_folder(*sys.argv[2:])
    elif cmd == "val":
        val(*sys.argv[2:5])
    elif cmd == "synth":
        synth(*sys.argv[2:5])
    elif cmd == "bad-hdf5":
        bad_hdf5(*sys.argv[2:4])
    else:
        fail("unknown command " + cmd)
