"""Parity with PyTorch: the same weights and batch through bmst_dist's engine
(parity_step) and through the independent PyTorch model in torch_resnet.py,
computed there in float64. Logits, loss, every parameter gradient, the weights,
momentum and BN statistics after one SGD step, and the evaluation logits must
agree within 1e-4 relative error (max |ours - ref| / max |ref| per tensor); the
reference's ReLUs follow the engine's masks (see torch_resnet.Relu). The
checkpoint after the step, loaded into a fresh PyTorch model with
load_state_dict(strict=True), must give the engine's evaluation logits.

usage: /usr/bin/python3 test_parity.py PARITY_STEP [CASE ...]"""
import os
import subprocess
import sys
import tempfile
import zlib

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_resnet import ResNet, soft_cross_entropy, soft_targets  # noqa: E402

TOLERANCE = 1e-4
SGD = dict(lr=0.1, momentum=0.9, weight_decay=5e-4)

# name: (arch, (H, W, C), classes, batch, merge, mix_at, extra engine options)
CASES = {
    "resnet18": ("resnet18", (32, 32, 3), 10, 8, 1, 2, {}),
    "resnet18-merge2": ("resnet18", (32, 32, 3), 10, 8, 2, 2, {}),
    "resnet50": ("resnet50", (32, 32, 3), 10, 8, 1, 2, {}),
    "resnet50-merge2-c4": ("resnet50", (32, 32, 3), 10, 8, 2, 4, {}),
    # the ImageNet stem (7x7 stride 2 + max pool) and a four-way merge
    "resnet18-imagenet-stem-merge4-c3": ("resnet18", (72, 72, 3), 7, 8, 4, 3, {}),
    # the quickstart's network, with the optional parts of the step switched on
    "resnet20-merge2-nesterov-smoothing-clip": (
        "resnet20", (28, 28, 1), 10, 8, 2, 2,
        {"nesterov": True, "label_smoothing": 0.1, "clip_norm": 0.5}),
}


def relative_error(ours, ref):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    scale = np.abs(ref).max()
    return np.abs(ours - ref).max() / (scale if scale > 0 else 1.0)


class Checker:
    def __init__(self, case):
        self.case, self.failures, self.worst = case, [], (0.0, "")

    def __call__(self, what, ours, ref):
        ours, ref = np.asarray(ours), np.asarray(ref)
        if ours.shape != ref.shape:
            self.failures.append(f"{what}: shape {ours.shape} vs PyTorch {ref.shape}")
            return
        err = relative_error(ours, ref)
        if not err < TOLERANCE:  # also catches NaN
            self.failures.append(f"{what}: relative error {err:.3g}")
        if err > self.worst[0]:
            self.worst = (err, what)


def perturb_statistics(path, rng):
    """BN starts at weight 1, bias 0, mean 0, var 1; random values make the
    affine and running-statistics paths carry information."""
    with h5py.File(path, "r+") as f:
        model = f["model"]
        suffix = ".running_mean"
        for bn in [n[:-len(suffix)] for n in model if n.endswith(suffix)]:
            for field, draw in (("weight", lambda s: rng.uniform(0.5, 1.5, s)),
                                ("bias", lambda s: rng.normal(0.0, 0.2, s)),
                                ("running_mean", lambda s: rng.normal(0.0, 0.2, s)),
                                ("running_var", lambda s: rng.uniform(0.5, 1.5, s))):
                ds = model[f"{bn}.{field}"]
                ds[...] = draw(ds.shape)


def load_state(model, path):
    with h5py.File(path, "r") as f:
        state = {name: torch.from_numpy(np.array(ds)) for name, ds in f["model"].items()}
    model.load_state_dict(state, strict=True)


def run_case(parity_step, name, spec, workdir):
    arch, shape, classes, batch, merge, mix_at, extra = spec
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    check = Checker(name)
    init = os.path.join(workdir, "init.h5")
    subprocess.run([parity_step, "--save-init", init, "--arch", arch, "--shape",
                    "x".join(map(str, shape)), "--classes", str(classes), "--seed", "7"],
                   check=True)
    perturb_statistics(init, rng)

    images = rng.normal(0.0, 1.0, (batch,) + shape).astype(np.float32)
    labels = rng.integers(0, classes, batch).astype(np.int32)
    with h5py.File(os.path.join(workdir, "batch.h5"), "w") as f:
        f["images"], f["labels"] = images, labels
    options = ["--merge", str(merge), "--mix-at", str(mix_at), "--seed", "11",
               "--lr", str(SGD["lr"]), "--momentum", str(SGD["momentum"]),
               "--weight-decay", str(SGD["weight_decay"])]
    if extra.get("nesterov"):
        options.append("--nesterov")
    for key in ("label_smoothing", "clip_norm"):
        if key in extra:
            options += ["--" + key.replace("_", "-"), str(extra[key])]
    subprocess.run([parity_step, "--init", init, "--input", os.path.join(workdir, "batch.h5"),
                    "--out", workdir] + options, check=True)

    with h5py.File(os.path.join(workdir, "step.h5"), "r") as f:
        lam, loss = float(f["lam"][()]), float(f["loss"][()])
        logits, eval_logits = np.array(f["logits"]), np.array(f["eval_logits"])
        # NHWC as the engine stores them, NCHW for PyTorch
        relu_masks = [torch.from_numpy(np.array(f["relu"][k])).permute(0, 3, 1, 2)
                      for k in sorted(f["relu"])]
    with h5py.File(os.path.join(workdir, "grads.h5"), "r") as f:
        grads = {k: np.array(v) for k, v in f["grad"].items()}
    with h5py.File(os.path.join(workdir, "after.h5"), "r") as f:
        after = {k: np.array(v) for k, v in f["model"].items()}
        momentum = {k: np.array(v) for k, v in f["optimizer/momentum"].items()}

    # the reference, in float64
    model = ResNet(arch, shape, classes, merge, mix_at)
    load_state(model, init)
    model = model.double().train()
    model.lam = np.float64(np.float32(lam))
    x = torch.from_numpy(images).double().permute(0, 3, 1, 2).contiguous()
    targets = soft_targets(torch.from_numpy(labels), classes, extra.get("label_smoothing", 0.0),
                           torch.float64)
    if merge > 1:
        targets = model.fold(targets)
    model.relu.masks = iter(relu_masks)
    ref_logits = model(x)
    if next(model.relu.masks, None) is not None:
        check.failures.append("the engine ran more ReLUs than the PyTorch model")
    model.relu.masks = None
    ref_loss = soft_cross_entropy(ref_logits, targets)
    ref_loss.backward()
    check("logits", logits, ref_logits.detach().numpy())
    check("loss", loss, ref_loss.item())
    # the engine clips in place, so its gradients are compared after clipping
    if "clip_norm" in extra:
        torch.nn.utils.clip_grad_norm_(model.parameters(), extra["clip_norm"])
    params = dict(model.named_parameters())
    missing = set(params) ^ set(grads)
    if missing:
        check.failures.append(f"gradients named differently: {sorted(missing)[:5]}")
    for pname, p in params.items():
        if pname in grads:
            check(f"grad {pname}", grads[pname], p.grad.numpy())

    opt = torch.optim.SGD(model.parameters(), nesterov=extra.get("nesterov", False), **SGD)
    opt.step()
    for pname, value in model.state_dict().items():
        ours = after.get(pname)
        if ours is None:
            check.failures.append(f"checkpoint lacks {pname}")
            continue
        check(f"after step {pname}", ours, value.numpy())
    for pname, p in params.items():
        check(f"momentum {pname}", momentum[pname], opt.state[p]["momentum_buffer"].numpy())

    model.eval()
    with torch.no_grad():
        check("eval logits", eval_logits, model(x).numpy())
        # our checkpoint in a fresh float32 PyTorch model gives our logits
        fresh = ResNet(arch, shape, classes)
        load_state(fresh, os.path.join(workdir, "after.h5"))
        fresh.eval()
        check("checkpoint in PyTorch: eval logits", fresh(x.float()).numpy(), eval_logits)
    return check


def main():
    parity_step = sys.argv[1]
    names = sys.argv[2:] or list(CASES)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    failed = 0
    for name in names:
        with tempfile.TemporaryDirectory(prefix="bmst-parity-") as workdir:
            check = run_case(parity_step, name, CASES[name], workdir)
        status = "FAIL" if check.failures else "ok"
        print(f"{status} {name}: worst relative error {check.worst[0]:.2e} ({check.worst[1]})")
        for failure in check.failures[:20]:
            print(f"    {failure}")
        failed += bool(check.failures)
    print(f"parity: {len(names) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
