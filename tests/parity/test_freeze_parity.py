"""Fine-tuning's parity with PyTorch: --freeze, --freeze-bn and --lr-head
through bmst_dist's engine (parity_step) against the independent PyTorch
model of torch_resnet.py in float64, whose frozen parameters have
requires_grad=False and are left out of the optimizer, whose batch norms
under a frozen prefix run in eval mode with --freeze-bn, and whose
classifier is an optimizer group of its own at --lr-head's rate.

After every step the logits, loss, every trainable parameter's gradient, the
weights, running statistics and optimizer state after the step, and the
evaluation logits agree within 1e-4 relative error (test_parity.py's
measure); frozen weights (and with --freeze-bn their statistics) are bitwise
the initial ones, and the checkpoint holds zeros as their optimizer state.
One SGD step without momentum or weight decay checks the head's effective
rate directly: (before - after) / gradient is --lr-head on fc and --lr
elsewhere.

usage: /usr/bin/python3 test_freeze_parity.py PARITY_STEP"""
import os
import subprocess
import sys
import tempfile
import zlib

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_parity import (ADAM, SGD, Checker, load_state, optimizer_options,  # noqa: E402
                         perturb_statistics, reference)
from torch_resnet import soft_cross_entropy, soft_targets  # noqa: E402

PLAIN_SGD = dict(SGD, momentum=0.0, weight_decay=0.0)

# name: (arch, (H, W, C), classes, batch, optimizer spec, fine-tuning options)
CASES = {
    # the stem and the first stage frozen: backward stops at layer2
    "resnet18-freeze-stem-layer1-sgd": ("resnet18", (32, 32, 3), 10, 8, dict(SGD, steps=2),
                                        {"freeze": "conv1,bn1,layer1"}),
    # a frozen middle stage with fixed statistics: its batch norms pass the
    # gradient on as eval mode's per-channel scale, its convs their input
    # gradient alone; with Adam (weight decay on) and a head rate of its own
    "resnet20-freeze-layer2-bn-adam-head": ("resnet20", (28, 28, 1), 10, 8, ADAM,
                                            {"freeze": "layer2", "freeze_bn": True,
                                             "lr_head": 3e-3}),
    # the head's rate, measured from one plain step
    "resnet20-lr-head-plain-sgd": ("resnet20", (28, 28, 1), 10, 8, PLAIN_SGD,
                                   {"lr_head": 0.5}),
}


def under(name, prefixes):
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def finetune_options(ft):
    out = ["--freeze", ft["freeze"]] if ft.get("freeze") else []
    out += ["--freeze-bn"] if ft.get("freeze_bn") else []
    out += ["--lr-head", repr(ft["lr_head"])] if "lr_head" in ft else []
    return out


def make_optimizer(model, opt, ft, frozen):
    """torch.optim over the trainable parameters: the body at --lr, the
    classifier (fc) at --lr-head's rate when given."""
    body = [(n, p) for n, p in model.named_parameters() if n not in frozen and
            not n.startswith("fc.")]
    head = [(n, p) for n, p in model.named_parameters() if n.startswith("fc.")]
    groups = [{"params": [p for _, p in body]},
              {"params": [p for _, p in head], "lr": ft.get("lr_head", opt["lr"])}]
    if opt["optimizer"] == "sgd":
        optim = torch.optim.SGD(groups, lr=opt["lr"], momentum=opt["momentum"],
                                weight_decay=opt["weight_decay"])
    else:
        optim = torch.optim.Adam(groups, lr=opt["lr"], betas=opt["betas"], eps=opt["eps"],
                                 weight_decay=opt["weight_decay"])
    return optim, [n for n, _ in body + head]


def run_case(parity_step, name, spec, workdir):
    arch, shape, classes, batch, opt, ft = spec
    steps = opt.get("steps", 1)
    check = Checker(name)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    init = os.path.join(workdir, "init.h5")
    subprocess.run([parity_step, "--save-init", init, "--arch", arch, "--shape",
                    "x".join(map(str, shape)), "--classes", str(classes), "--seed", "7"]
                   + optimizer_options(opt), check=True)
    perturb_statistics(init, rng)
    images = rng.normal(0.0, 1.0, (batch,) + shape).astype(np.float32)
    labels = rng.integers(0, classes, batch).astype(np.int32)
    with h5py.File(os.path.join(workdir, "batch.h5"), "w") as f:
        f["images"], f["labels"] = images, labels
    subprocess.run([parity_step, "--init", init, "--input", os.path.join(workdir, "batch.h5"),
                    "--out", workdir, "--seed", "11", "--steps", str(steps)]
                   + optimizer_options(opt) + finetune_options(ft), check=True)
    out = lambda what, k: os.path.join(workdir, f"{what}{k}.h5")  # noqa: E731
    with h5py.File(init, "r") as f:
        initial = {n: np.array(v) for n, v in f["model"].items()}

    prefixes = ft["freeze"].split(",") if ft.get("freeze") else []
    model = reference(arch, shape, classes)
    load_state(model, init)
    model = model.double().train()
    frozen = {n for n, _ in model.named_parameters() if under(n, prefixes)}
    for n, p in model.named_parameters():
        p.requires_grad_(n not in frozen)
    fixed_bn = [mod for n, mod in model.named_modules() if ft.get("freeze_bn") and
                isinstance(mod, torch.nn.BatchNorm2d) and under(n, prefixes)]
    fixed_stats = {f"{n}.{s}" for n, mod in model.named_modules() if mod in fixed_bn
                   for s in ("running_mean", "running_var")}
    if prefixes and not frozen:
        check.failures.append(f"--freeze {ft['freeze']} takes no parameter of the reference")
    optimizer, names = make_optimizer(model, opt, ft, frozen)
    params = dict(model.named_parameters())
    x = torch.from_numpy(images).double().permute(0, 3, 1, 2).contiguous()
    for k in range(1, steps + 1):
        at = f"step {k}:"
        with h5py.File(out("step", k), "r") as f:
            loss = float(f["loss"][()])
            logits, eval_logits = np.array(f["logits"]), np.array(f["eval_logits"])
            relu_masks = [torch.from_numpy(np.array(f["relu"][m])).permute(0, 3, 1, 2)
                          for m in sorted(f["relu"])]
        with h5py.File(out("grads", k), "r") as f:
            grads = {n: np.array(v) for n, v in f["grad"].items()}
        with h5py.File(out("after", k), "r") as f:
            after = {n: np.array(v) for n, v in f["model"].items()}
            state = {key: {n: np.array(v) for n, v in f["optimizer"][key].items()}
                     for key in f["optimizer"] if isinstance(f["optimizer"][key], h5py.Group)}
        targets = soft_targets(torch.from_numpy(labels), classes, 0.0, torch.float64)
        model.train()
        for mod in fixed_bn:
            mod.eval()
        model.relu.masks = iter(relu_masks)
        optimizer.zero_grad()
        ref_logits = model(x)
        model.relu.masks = None
        ref_loss = soft_cross_entropy(ref_logits, targets)
        ref_loss.backward()
        check(f"{at} logits", logits, ref_logits.detach().numpy())
        check(f"{at} loss", loss, ref_loss.item())
        for pname, p in params.items():
            if pname in frozen:
                if np.any(grads[pname] != 0):
                    check.failures.append(f"{at} frozen {pname} has a gradient")
            else:
                check(f"{at} grad {pname}", grads[pname], p.grad.numpy())
        if opt["optimizer"] != "sgd":  # test_parity.py: Adam from the engine's gradients
            for pname, p in params.items():
                if pname not in frozen:
                    p.grad = torch.from_numpy(grads[pname]).double()
        optimizer.step()
        for pname, value in model.state_dict().items():
            # the engine counts every batch norm's batches by the step (its
            # checkpoints derive them from it); eval mode counts none
            if pname.endswith(".num_batches_tracked") and \
                    pname[:-len("num_batches_tracked")] + "running_mean" in fixed_stats:
                continue
            if pname in frozen or pname in fixed_stats:
                if after[pname].tobytes() != initial[pname].tobytes():
                    check.failures.append(f"{at} frozen {pname} changed")
            check(f"{at} after step {pname}", after[pname], value.numpy())
        for key, tensors in state.items():
            for pname in frozen:
                if np.any(tensors[pname] != 0):
                    check.failures.append(f"{at} frozen {pname} has {key} state")
            for pname in names:
                ref = optimizer.state[params[pname]].get(key)
                if ref is None and opt["optimizer"] == "sgd" and opt["momentum"] == 0:
                    ref = torch.zeros(tensors[pname].shape)  # PyTorch keeps none
                if ref is None:
                    check.failures.append(f"{at} PyTorch has no {key} for {pname}")
                else:
                    check(f"{at} {key} {pname}", tensors[pname], ref.numpy())
        if opt is PLAIN_SGD:
            # delta = rate * gradient, with the engine's own numbers
            for pname, rate in (("fc.weight", ft["lr_head"]), ("fc.bias", ft["lr_head"]),
                                ("conv1.weight", opt["lr"])):
                g = grads[pname].astype(np.float64)
                delta = initial[pname].astype(np.float64) - after[pname]
                big = np.abs(g) > 1e-3 * np.abs(g).max()
                ratio = delta[big] / g[big]
                if not np.allclose(ratio, rate, rtol=1e-3):
                    check.failures.append(f"{pname}: effective rate {ratio.min():.6g}.."
                                          f"{ratio.max():.6g}, expected {rate}")
        model.eval()
        with torch.no_grad():
            check(f"{at} eval logits", eval_logits, model(x).numpy())
    return check


def main():
    parity_step = sys.argv[1]
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    failed = 0
    for name, spec in CASES.items():
        with tempfile.TemporaryDirectory(prefix="bmst-freeze-parity-") as workdir:
            check = run_case(parity_step, name, spec, workdir)
        status = "FAIL" if check.failures else "ok"
        print(f"{status} {name}: worst relative error {check.worst[0]:.2e} ({check.worst[1]})")
        for failure in check.failures[:20]:
            print(f"    {failure}")
        failed += bool(check.failures)
    print(f"freeze parity: {len(CASES) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
