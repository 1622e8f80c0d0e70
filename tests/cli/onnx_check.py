"""Checks an ONNX export (tests/cli/test_export.sh) in real runtimes: onnx's
checker (full_check, shape inference included) passes, and onnxruntime's
logits on the dataset's test split, normalized as the loader normalizes,
give `bmst_dist eval`'s loss within 1e-4 relative and its accuracy.

An int8 model is checked against an fp32 one: both pass the checker, and
their predictions (argmax) agree on at least MIN percent of the test split.

usage: onnx_check.py prepare DATA.h5 DIR    (the system Python, with h5py)
       onnx_check.py check MODEL.onnx DIR EVAL_LOSS EVAL_ACCURACY_PERCENT
       onnx_check.py agree FP32.onnx INT8.onnx DIR MIN_PERCENT
                                             (onnx and onnxruntime's venv)"""
import sys

import numpy as np


def prepare(data, folder):
    """The test split as the engine sees it, NCHW float32, and its labels."""
    import h5py

    with h5py.File(data) as f:
        mean, std = f.attrs["mean"].astype(np.float64), f.attrs["std"].astype(np.float64)
        images, labels = f["test/images"][()], f["test/labels"][()]
    # datasets/augment.c's table: (v / 255 - mean) / std in double, then float
    sd = np.where(std > 0, std, 1.0)
    x = ((images.astype(np.float64) / 255.0 - mean) / sd).astype(np.float32)
    np.save(f"{folder}/x.npy", np.ascontiguousarray(x.transpose(0, 3, 1, 2)))  # NHWC -> NCHW
    np.save(f"{folder}/labels.npy", labels.astype(np.int64))


def run(path, x):
    """onnx's checker, then the logits onnxruntime computes for x."""
    import onnx
    import onnxruntime as ort

    onnx.checker.check_model(onnx.load(path), full_check=True)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"input": x})[0].astype(np.float64)


def check(path, folder, want_loss, want_acc):
    x, labels = np.load(f"{folder}/x.npy"), np.load(f"{folder}/labels.npy")
    logits = run(path, x)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(len(labels)), labels].mean()
    accuracy = 100.0 * (logits.argmax(axis=1) == labels).mean()
    errors = []
    # eval prints the loss to 6 decimals
    if abs(loss - want_loss) > 1e-4 * abs(want_loss) + 5e-7:
        errors.append(f"loss {loss:.7f}, eval {want_loss:.6f} (relative {abs(loss - want_loss) / want_loss:.2e})")
    if abs(accuracy - want_acc) > 0.005:
        errors.append(f"accuracy {accuracy:.2f}%, eval {want_acc:.2f}%")
    print("; ".join(errors) if errors else f"loss {loss:.7f} (eval {want_loss:.6f}), accuracy {accuracy:.2f}%")
    return 1 if errors else 0


def agree(fp32, int8, folder, least):
    x, labels = np.load(f"{folder}/x.npy"), np.load(f"{folder}/labels.npy")
    a, b = run(fp32, x).argmax(axis=1), run(int8, x).argmax(axis=1)
    agreement = 100.0 * (a == b).mean()
    print(f"argmax agreement {agreement:.2f}% of {len(labels)} (accuracy fp32 "
          f"{100.0 * (a == labels).mean():.2f}%, int8 {100.0 * (b == labels).mean():.2f}%)")
    return 0 if agreement >= least else 1


if sys.argv[1] == "prepare":
    prepare(sys.argv[2], sys.argv[3])
elif sys.argv[1] == "agree":
    sys.exit(agree(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])))
else:
    sys.exit(check(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])))
