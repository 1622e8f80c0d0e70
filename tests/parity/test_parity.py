"""Parity with PyTorch: the same weights and batch through bmst_dist's engine
(parity_step) and through the independent PyTorch model in torch_resnet.py
or torch_inception.py, computed there in float64. After every step of a case
(one step of SGD; three of Adam and AdamW), the logits, loss, every parameter
gradient, the weights, BN statistics and optimizer state (momentum_buffer;
exp_avg, exp_avg_sq and step) after the step, and the evaluation logits must
agree within 1e-4 relative error (max |ours - ref| / max |ref| per tensor;
InceptionV3's cases 3e-4, see CASES); with InceptionV3's auxiliary
classifier (--aux-logits, the inceptionv3-aux cases) the reference is
torchvision's own Inception3 (torchvision_inception_aux.py), the loss is
torchvision's recipe loss + 0.4 * aux loss, and the auxiliary logits and
loss must agree too. The reference's ReLUs follow the
engine's masks (see torch_resnet.Relu), and InceptionV3's dropout and max
pools the engine's dropout masks and arg-max choices (torch_inception). The
checkpoint after the
last step, loaded into a fresh PyTorch model with load_state_dict(strict=True),
must give the engine's evaluation logits. For Adam and AdamW, the optimizer
state saved after the second-last step, loaded into a torch.optim optimizer by
load_state_dict, must take the engine's last step from its gradients.

Adam's steps are compared with the reference optimizer fed the engine's
gradients (themselves checked against the reference's): Adam divides every
gradient by its own magnitude, so an element whose float32 gradient is
rounding noise around 0 (1e-7 of the tensor's largest) gets a full-size
update of a sign float32 and float64 may disagree on; from the same
gradients, the update is well conditioned.

usage: /usr/bin/python3 test_parity.py PARITY_STEP [CASE|--not=CASE ... | zoo | revnet]
(shell patterns over CASES; "zoo": ZOO_CASES; "revnet": REVNET_CASES)"""
import fnmatch
import os
import subprocess
import sys
import tempfile
import zlib

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_resnet import ResNet, param_groups, soft_cross_entropy, soft_targets  # noqa: E402
from torch_densenet import DenseNet  # noqa: E402
from torch_inception import InceptionV3  # noqa: E402
from torch_preact import PreActResNet  # noqa: E402
from torch_revnet import RevNet  # noqa: E402

AUX_WEIGHT = 0.4  # torchvision's recipe: loss + 0.4 * aux loss (--aux-logits)

TOLERANCE = 1e-4
SGD = dict(optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=5e-4)
ADAM = dict(optimizer="adam", lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=5e-4, steps=3)
ADAMW = dict(ADAM, optimizer="adamw", lr=2e-3, eps=1e-6, weight_decay=0.05)

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
    # SGD's weight decay without BN parameters and biases
    "resnet20-sgd-no-decay": ("resnet20", (28, 28, 1), 10, 8, 1, 2,
                              {"no_decay": ("bn", "bias"), "weight_decay": 0.05}),
    # Adam and AdamW, three steps each
    "resnet20-adam": ("resnet20", (28, 28, 1), 10, 8, 1, 2, ADAM),
    "resnet20-adamw-no-decay": ("resnet20", (28, 28, 1), 10, 8, 2, 2,
                                dict(ADAMW, no_decay=("bn", "bias"))),
    "resnet18-merge2-adam": ("resnet18", (32, 32, 3), 10, 8, 2, 2, ADAM),
    "resnet18-merge2-adamw": ("resnet18", (32, 32, 3), 10, 8, 2, 2, ADAMW),
    # InceptionV3: the CIFAR variant, with a merge at c3 (the seed's
    # c3mixt_inceptionv3), and torchvision's (its checkpoint must also load
    # into torchvision's own). Its 94 batch norms leave PyTorch's own float32
    # 0.8e-4 to 2.1e-4 (relative) from float64 on these cases, so they are
    # held to 3e-4; smaller inputs or batches leave the last layers' batch
    # norms so few rows that float32 itself strays by 1e-3 and more.
    "inceptionv3": ("inceptionv3", (20, 20, 3), 10, 4, 1, 2, {"tolerance": 3e-4}),
    "inceptionv3-merge2-c3": ("inceptionv3", (20, 20, 3), 10, 8, 2, 3, {"tolerance": 3e-4}),
    "inceptionv3-imagenet-stem": ("inceptionv3", (107, 107, 3), 10, 4, 1, 2,
                                  {"tolerance": 3e-4}),
    # --aux-logits, against torchvision's own Inception3 (run by the
    # parity_inception_aux test). 299 px is the smallest input torchvision's
    # auxiliary head takes (Mixed_6e's 17x17 map pooled 5/3 to the 5x5 its
    # unpadded 5x5 convolution needs). The merge right after Mixed_6e (c14)
    # merges the head's input too, and the trunk takes that same merge; label
    # smoothing applies to both terms. The head's conv1 batch norm normalizes
    # two rows here (a 1x1 map of two merged samples), which PyTorch's own
    # float32 step, given the same masks, misses its float64 gradients by up
    # to 4.7e-4 on (AuxLogits.fc.weight; the trunk's stay near 1e-4): held
    # to 1e-3, still far below what a wrong formula gives (O(1)).
    "inceptionv3-aux-merge2-c14-smoothing": ("inceptionv3", (299, 299, 3), 5, 4, 2, 14,
                                             {"aux_logits": True, "label_smoothing": 0.1,
                                              "tolerance": 1e-3}),
}


# The model zoo's networks, run by the parity_pytorch_zoo test (argument
# "zoo"). Deep bottleneck networks are worse conditioned than the 1e-4 above
# allows float32 arithmetic: PyTorch's own float32 step, given the same ReLU
# masks, misses its float64 gradients by 4.7e-4 on the resnet164 case and by
# 1.35e-4 on the wide_resnet50_2 one (resnet50's case: 4.2e-5), so those
# cases take a "tolerance" of their own, still far below what a wrong
# formula or index gives (O(1)).
ZOO_CASES = {
    # DenseNet: the CIFAR stem, a merge before the second dense block, and the
    # ImageNet stem, whose checkpoints also load into torchvision's model
    "densenet121": ("densenet121", (16, 16, 3), 10, 4, 1, 2, {}),
    "densenet121-merge2-c3": ("densenet121", (16, 16, 3), 10, 4, 2, 3, {}),
    "densenet121-imagenet-stem": ("densenet121", (65, 65, 3), 10, 2, 1, 2,
                                  {"torchvision": "densenet121"}),
    "densenet161-imagenet-stem": ("densenet161", (65, 65, 3), 10, 4, 1, 2,
                                  {"torchvision": "densenet161"}),
    # the pre-activation ResNet-164, merged before its second stage
    "resnet164-merge2-c3": ("resnet164", (16, 16, 3), 10, 4, 2, 3, {"tolerance": 1e-3}),
    # Wide ResNet-50-2 with the ImageNet stem, loaded into torchvision's model
    "wide_resnet50_2-imagenet-stem": ("wide_resnet50_2", (65, 65, 3), 10, 4, 1, 2,
                                      {"torchvision": "wide_resnet50_2", "tolerance": 3e-4}),
}


# The RevNets, run by the parity_revnet test (argument "revnet"): the
# reference (torch_revnet.py) is plain autograd storing every activation,
# the engine rebuilds each invertible unit's input from its output in
# backward and runs F and G again with the batch statistics forward kept.
# Basic units (revnet38) plain and merged before the second stage, and
# bottleneck units with their projections (revnet164).
REVNET_CASES = {
    "revnet38": ("revnet38", (32, 32, 3), 10, 4, 1, 2, {}),
    "revnet38-merge2-c3": ("revnet38", (32, 32, 3), 10, 4, 2, 3, {}),
    "revnet164": ("revnet164", (16, 16, 3), 10, 4, 1, 2, {}),
}


def reference(arch, shape, classes, merge=1, mix_at=2, aux_logits=False):
    """The independently written PyTorch model of `arch`; with aux_logits,
    torchvision's own Inception3 (torchvision_inception_aux.py)."""
    if aux_logits:
        from torchvision_inception_aux import TorchvisionInceptionAux  # needs torchvision
        return TorchvisionInceptionAux(shape, classes, merge, mix_at)
    if arch == "inceptionv3":
        return InceptionV3(shape, classes, merge, mix_at)
    if arch.startswith("densenet"):
        return DenseNet(arch, shape, classes, merge, mix_at)
    if arch == "resnet164":
        return PreActResNet(arch, shape, classes, merge, mix_at)
    if arch.startswith("revnet"):
        return RevNet(arch, shape, classes, merge, mix_at)
    return ResNet(arch, shape, classes, merge, mix_at)


def check_torchvision(check, name, classes, path, x, eval_logits):
    """Our checkpoint loads into torchvision's own model `name` with
    load_state_dict(strict=True) and gives our evaluation logits."""
    import torchvision
    model = getattr(torchvision.models, name)(num_classes=classes)
    load_state(model, path)
    model.eval()
    with torch.no_grad():
        check(f"checkpoint in torchvision.models.{name}: eval logits", model(x.float()).numpy(),
              eval_logits)


def relative_error(ours, ref):
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    scale = np.abs(ref).max()
    return np.abs(ours - ref).max() / (scale if scale > 0 else 1.0)


class Checker:
    def __init__(self, case, tolerance=TOLERANCE):
        self.case, self.failures, self.worst = case, [], (0.0, "")
        self.tolerance = tolerance

    def __call__(self, what, ours, ref):
        ours, ref = np.asarray(ours), np.asarray(ref)
        if ours.shape != ref.shape:
            self.failures.append(f"{what}: shape {ours.shape} vs PyTorch {ref.shape}")
            return
        err = relative_error(ours, ref)
        if not err < self.tolerance:  # also catches NaN
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


def optimizer_options(opt):
    """The engine's command-line options for an optimizer spec."""
    out = ["--optimizer", opt["optimizer"], "--lr", str(opt["lr"]),
           "--weight-decay", str(opt["weight_decay"])]
    if opt["optimizer"] == "sgd":
        out += ["--momentum", str(opt["momentum"])]
        out += ["--nesterov"] if opt.get("nesterov") else []
    else:
        out += ["--betas", "%r,%r" % opt["betas"], "--eps", str(opt["eps"])]
    if opt.get("no_decay"):
        out += ["--no-decay", ",".join(opt["no_decay"])]
    return out


def make_optimizer(model, opt):
    """torch.optim's optimizer for the spec, and the parameter names in its
    order (the decayed group, then the exempt one)."""
    groups = param_groups(model, opt.get("no_decay", ()), opt["weight_decay"])
    params, names = [g for g, _ in groups], [n for _, ns in groups for n in ns]
    if opt["optimizer"] == "sgd":
        return torch.optim.SGD(params, lr=opt["lr"], momentum=opt["momentum"],
                               nesterov=opt.get("nesterov", False)), names
    kind = torch.optim.Adam if opt["optimizer"] == "adam" else torch.optim.AdamW
    return kind(params, lr=opt["lr"], betas=opt["betas"], eps=opt["eps"]), names


def load_optimizer_state(optimizer, names, path, lr):
    """Our checkpoint's /optimizer into `optimizer` through load_state_dict:
    the state by PyTorch's names for each parameter (convolutions already in
    OIHW), `step` for every parameter, and the hyperparameters the file
    records (the exempt group's weight decay 0)."""
    saved = optimizer.state_dict()
    with h5py.File(path, "r") as f:
        g = f["optimizer"]
        buffers = [k for k in g if isinstance(g[k], h5py.Group)]
        for i, name in enumerate(names):
            saved["state"][i] = {k: torch.from_numpy(np.array(g[k][name])) for k in buffers}
            if "step" in g:
                saved["state"][i]["step"] = torch.tensor(float(g["step"][()]))
        hyper = {k: v for k, v in g.attrs.items() if k not in ("kind", "no_decay")}
    for i, group in enumerate(saved["param_groups"]):
        group["lr"] = lr
        for key, value in hyper.items():
            if key == "weight_decay" and i > 0:  # the exempt group
                continue
            group[key] = tuple(float(v) for v in value) if np.ndim(value) else float(value)
    optimizer.load_state_dict(saved)


def check_state(check, what, optimizer, names, params, path):
    """The optimizer's state after a step against our checkpoint's."""
    with h5py.File(path, "r") as f:
        g = f["optimizer"]
        for name in names:
            state = optimizer.state[params[name]]
            for key, value in state.items():
                if key == "step":
                    ours = float(g["step"][()])
                    if ours != float(value):
                        check.failures.append(f"{what} step {ours} vs PyTorch {float(value)}")
                else:
                    check(f"{what} {key} {name}", np.array(g[key][name]), value.numpy())


def run_engine(parity_step, name, spec, opt, workdir):
    arch, shape, classes, batch, merge, mix_at, extra = spec
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    init = os.path.join(workdir, "init.h5")
    subprocess.run([parity_step, "--save-init", init, "--arch", arch, "--shape",
                    "x".join(map(str, shape)), "--classes", str(classes), "--seed", "7"]
                   + (["--aux-logits"] if extra.get("aux_logits") else [])
                   + optimizer_options(opt), check=True)
    perturb_statistics(init, rng)
    images = rng.normal(0.0, 1.0, (batch,) + shape).astype(np.float32)
    labels = rng.integers(0, classes, batch).astype(np.int32)
    with h5py.File(os.path.join(workdir, "batch.h5"), "w") as f:
        f["images"], f["labels"] = images, labels
    options = ["--merge", str(merge), "--mix-at", str(mix_at), "--seed", "11",
               "--steps", str(opt.get("steps", 1))] + optimizer_options(opt)
    for key in ("label_smoothing", "clip_norm"):
        if key in extra:
            options += ["--" + key.replace("_", "-"), str(extra[key])]
    subprocess.run([parity_step, "--init", init, "--input", os.path.join(workdir, "batch.h5"),
                    "--out", workdir] + options, check=True)
    return init, images, labels


def run_case(parity_step, name, spec, workdir):
    arch, shape, classes, batch, merge, mix_at, extra = spec
    opt = dict(SGD, **extra)
    steps = opt.get("steps", 1)
    check = Checker(name, extra.get("tolerance", TOLERANCE))
    init, images, labels = run_engine(parity_step, name, spec, opt, workdir)
    out = lambda what, k: os.path.join(workdir, f"{what}{k}.h5")  # noqa: E731

    aux = extra.get("aux_logits", False)
    # the reference, in float64
    model = reference(arch, shape, classes, merge, mix_at, aux)
    load_state(model, init)
    model = model.double().train()
    optimizer, names = make_optimizer(model, opt)
    params = dict(model.named_parameters())
    x = torch.from_numpy(images).double().permute(0, 3, 1, 2).contiguous()
    for k in range(1, steps + 1):
        at = f"step {k}:" if steps > 1 else ""
        with h5py.File(out("step", k), "r") as f:
            lam, loss = float(f["lam"][()]), float(f["loss"][()])
            logits, eval_logits = np.array(f["logits"]), np.array(f["eval_logits"])
            aux_logits = np.array(f["aux_logits"]) if "aux_logits" in f else None
            aux_loss = float(f["aux_loss"][()]) if "aux_loss" in f else None
            # NHWC as the engine stores them, NCHW for PyTorch
            relu_masks = [torch.from_numpy(np.array(f["relu"][m])).permute(0, 3, 1, 2)
                          for m in sorted(f["relu"])]
            dropout_masks = [torch.from_numpy(np.array(f["dropout"][m]))
                             for m in sorted(f.get("dropout", {}))]
            pool_indices = [torch.from_numpy(np.array(f["maxpool"][m]))
                            for m in sorted(f.get("maxpool", {}))]
        if aux != (aux_logits is not None):
            check.failures.append(f"{at} the engine ran an auxiliary classifier: "
                                  f"{aux_logits is not None}, the reference: {aux}")
            break
        with h5py.File(out("grads", k), "r") as f:
            grads = {n: np.array(v) for n, v in f["grad"].items()}
        with h5py.File(out("after", k), "r") as f:
            after = {n: np.array(v) for n, v in f["model"].items()}

        model.lam = np.float64(np.float32(lam))
        targets = soft_targets(torch.from_numpy(labels), classes, extra.get("label_smoothing", 0.0),
                               torch.float64)
        if merge > 1:
            targets = model.fold(targets)
        model.relu.masks = iter(relu_masks)
        dropout = getattr(model, "dropout", None)
        if dropout is not None:
            dropout.masks = iter(dropout_masks)
        elif dropout_masks:
            check.failures.append(f"{at} the engine ran dropout, the PyTorch model has none")
        max_pool = getattr(model, "max_pool", None)  # torch_inception's follows the engine
        if max_pool is not None:
            max_pool.indices = iter(pool_indices)
        optimizer.zero_grad()
        ref_logits = model(x)
        if aux:  # torchvision's InceptionOutputs
            ref_aux = ref_logits.aux_logits
            ref_logits = ref_logits.logits
        if next(model.relu.masks, None) is not None:
            check.failures.append(f"{at} the engine ran more ReLUs than the PyTorch model")
        if dropout is not None and next(dropout.masks, None) is not None:
            check.failures.append(f"{at} the engine ran more dropouts than the PyTorch model")
        model.relu.masks = None
        if dropout is not None:
            dropout.masks = None
        if max_pool is not None:
            if next(max_pool.indices, None) is not None:
                check.failures.append(f"{at} the engine ran more max pools than PyTorch")
            max_pool.indices = None
        ref_loss = soft_cross_entropy(ref_logits, targets)
        if aux:
            ref_aux_loss = soft_cross_entropy(ref_aux, targets)
            check(f"{at} aux logits", aux_logits, ref_aux.detach().numpy())
            check(f"{at} aux loss", aux_loss, ref_aux_loss.item())
            ref_loss = ref_loss + AUX_WEIGHT * ref_aux_loss
        ref_loss.backward()
        check(f"{at} logits", logits, ref_logits.detach().numpy())
        check(f"{at} loss", loss, ref_loss.item())
        # the engine clips in place, so its gradients are compared after clipping
        if "clip_norm" in extra:
            torch.nn.utils.clip_grad_norm_(model.parameters(), extra["clip_norm"])
        missing = set(params) ^ set(grads)
        if missing:
            check.failures.append(f"gradients named differently: {sorted(missing)[:5]}")
        for pname, p in params.items():
            if pname in grads:
                check(f"{at} grad {pname}", grads[pname], p.grad.numpy())
        if opt["optimizer"] != "sgd":  # see the top: Adam from the engine's gradients
            for pname, p in params.items():
                p.grad = torch.from_numpy(grads[pname]).double()
        optimizer.step()
        for pname, value in model.state_dict().items():
            ours = after.get(pname)
            if ours is None:
                check.failures.append(f"checkpoint lacks {pname}")
                continue
            check(f"{at} after step {pname}", ours, value.numpy())
        check_state(check, f"{at} optimizer", optimizer, names, params, out("after", k))
        model.eval()
        with torch.no_grad():
            check(f"{at} eval logits", eval_logits, model(x).numpy())
        model.train()

    model.eval()
    with torch.no_grad():
        # our checkpoint in a fresh float32 PyTorch model gives our logits
        fresh = reference(arch, shape, classes, aux_logits=aux)
        load_state(fresh, out("after", steps))
        fresh.eval()
        check("checkpoint in PyTorch: eval logits", fresh(x.float()).numpy(), eval_logits)
        if arch == "inceptionv3" and min(shape[:2]) > 64:
            check_torchvision_inception(check, classes, out("after", steps), x, eval_logits, aux)
        if "torchvision" in extra:
            check_torchvision(check, extra["torchvision"], classes, out("after", steps), x,
                              eval_logits)
    if steps > 1:
        check_continuation(check, spec, opt, out, steps)
    return check


def check_torchvision_inception(check, classes, path, x, eval_logits, aux_logits=False):
    """Our ImageNet-stem checkpoint in torchvision's own Inception3 (with the
    auxiliary classifier as trained, transform_input off) by
    load_state_dict(strict=True) gives our evaluation logits."""
    import torchvision  # only this check needs it
    model = torchvision.models.inception_v3(num_classes=classes, aux_logits=aux_logits,
                                            init_weights=False, transform_input=False)
    load_state(model, path)
    model.eval()
    check("checkpoint in torchvision's inception_v3: eval logits", model(x.float()).numpy(),
          eval_logits)


def check_continuation(check, spec, opt, out, steps):
    """The state saved after step N-1, loaded into torch.optim by
    load_state_dict (over a fresh model and a default optimizer), takes the
    engine's step N from the engine's gradients of that step."""
    arch, shape, classes, batch, merge, mix_at, extra = spec
    model = reference(arch, shape, classes, merge, mix_at, extra.get("aux_logits", False))
    load_state(model, out("after", steps - 1))
    model = model.double()
    default = dict(opt, lr=0.5, betas=(0.5, 0.5), eps=0.5, weight_decay=0.5, momentum=0.5)
    optimizer, names = make_optimizer(model, default)
    load_optimizer_state(optimizer, names, out("after", steps - 1), opt["lr"])
    params = dict(model.named_parameters())
    with h5py.File(out("grads", steps), "r") as f:
        for name, p in params.items():
            p.grad = torch.from_numpy(np.array(f["grad"][name])).double()
    optimizer.step()
    with h5py.File(out("after", steps), "r") as f:
        for name, p in params.items():
            check(f"load_state_dict: step {steps} {name}", np.array(f["model"][name]),
                  p.detach().numpy())
    check_state(check, f"load_state_dict: step {steps} optimizer", optimizer, names, params,
                out("after", steps))


def select(patterns):
    """The cases named by shell patterns (all when none); a pattern after
    --not leaves its cases out (CTest runs InceptionV3's cases beside the
    others); "zoo" alone: the model zoo's cases; "revnet" alone: the RevNets'."""
    if patterns == ["zoo"]:
        return list(ZOO_CASES)
    if patterns == ["revnet"]:
        return list(REVNET_CASES)
    keep = [p for p in patterns if not p.startswith("--not=")]
    drop = [p[len("--not="):] for p in patterns if p.startswith("--not=")]
    names = [n for n in CASES if not keep or any(fnmatch.fnmatch(n, p) for p in keep)]
    return [n for n in names if not any(fnmatch.fnmatch(n, p) for p in drop)]


def main():
    parity_step = sys.argv[1]
    names = select(sys.argv[2:])
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    failed = 0
    for name in names:
        with tempfile.TemporaryDirectory(prefix="bmst-parity-") as workdir:
            check = run_case(parity_step, name, {**CASES, **ZOO_CASES, **REVNET_CASES}[name],
                             workdir)
        status = "FAIL" if check.failures else "ok"
        print(f"{status} {name}: worst relative error {check.worst[0]:.2e} ({check.worst[1]})")
        for failure in check.failures[:20]:
            print(f"    {failure}")
        failed += bool(check.failures)
    print(f"parity: {len(names) - failed} passed, {failed} failed")
    return 1 if failed or not names else 0


if __name__ == "__main__":
    sys.exit(main())
