"""The first N training and M test images of an idx dataset (Fashion-MNIST's
four .gz files), written as the same four files: a real source, small enough
for a test to convert and train on in seconds.

  idx_subset.py SRC DST N M
"""
import gzip
import struct
import sys


def main(src, dst, n_train, n_test):
    for prefix, count in (("train", n_train), ("t10k", n_test)):
        for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"):
            data = gzip.open(f"{src}/{prefix}-{kind}.gz").read()
            dims = data[3]  # magic: 0, 0, type, number of dimensions
            shape = list(struct.unpack(f">{dims}I", data[4:4 + 4 * dims]))
            if count > shape[0]:
                sys.exit(f"{src}/{prefix}-{kind}.gz holds {shape[0]} items, not {count}")
            item = 1
            for d in shape[1:]:
                item *= d
            start = 4 + 4 * dims
            shape[0] = count
            with gzip.open(f"{dst}/{prefix}-{kind}.gz", "wb") as f:
                f.write(data[:4] + struct.pack(f">{dims}I", *shape) + data[start:start + count * item])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
