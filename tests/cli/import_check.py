"""Helper of test_import.sh: torchvision models to import, and our logits
against torchvision's.

  import_check.py make NET OUT_PREFIX [--cifar-stem]
      a randomly initialised torchvision NET (10 classes; inceptionv3 is
      inception_v3 without the auxiliary classifier; running statistics
      drawn too, so eval-mode batch norm is no identity) saved as
      OUT_PREFIX.pt (torch.save of its state_dict) and OUT_PREFIX.safetensors
      (the safetensors package); --cifar-stem: conv1 replaced by a 3x3
      stride-1 conv and no max pool, as our CIFAR stem (src/models/resnet.c)
  import_check.py check NET OUT_PREFIX DATA.h5 PRED.h5 [--cifar-stem]
      the model OUT_PREFIX.pt in eval mode on DATA's /test images,
      normalized as our loader does ((x / 255 - mean) / std, per channel),
      against the logits `bmst_dist predict --logits --augment off` wrote to
      PRED.h5: the largest difference within 1e-4 of the largest logit
"""
import sys

import h5py
import numpy as np
import torch
import torchvision


def model(net, cifar_stem):
    if net == "inceptionv3":  # torchvision's name, without its training-only head
        return torchvision.models.inception_v3(num_classes=10, aux_logits=False,
                                               init_weights=False)
    m = getattr(torchvision.models, net)(num_classes=10)
    if cifar_stem:
        m.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        m.maxpool = torch.nn.Identity()
    return m


def make(net, prefix, cifar_stem):
    from safetensors.torch import save_file
    torch.manual_seed(7)
    m = model(net, cifar_stem)
    g = torch.Generator().manual_seed(8)
    for mod in m.modules():
        if isinstance(mod, torch.nn.BatchNorm2d):
            n = mod.num_features
            mod.running_mean.copy_(torch.rand(n, generator=g) * 0.2 - 0.1)
            mod.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            mod.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            mod.bias.data.copy_(torch.rand(n, generator=g) * 0.2 - 0.1)
    state = m.state_dict()
    torch.save(state, prefix + ".pt")
    save_file({k: v.contiguous() for k, v in state.items()}, prefix + ".safetensors")


def check(net, prefix, data, pred, cifar_stem):
    m = model(net, cifar_stem)
    m.load_state_dict(torch.load(prefix + ".pt"), strict=True)
    m.eval()
    with h5py.File(data, "r") as f:
        images = f["test/images"][()].astype(np.float64) / 255.0
        mean = np.asarray(f.attrs["mean"], dtype=np.float64)
        std = np.asarray(f.attrs["std"], dtype=np.float64)
    x = ((images - mean) / std).astype(np.float32).transpose(0, 3, 1, 2)
    with torch.no_grad():
        want = m(torch.from_numpy(np.ascontiguousarray(x))).numpy()
    with h5py.File(pred, "r") as f:
        got = f["logits"][()]
        index = f["index"][()]
    if got.shape != want.shape or not np.array_equal(index, np.arange(len(index))):
        sys.exit("shapes %s and %s, or samples out of order" % (got.shape, want.shape))
    diff = float(np.abs(got - want).max())
    scale = float(np.abs(want).max())
    print("%s: largest difference %.3g, largest logit %.3g (relative %.3g)"
          % (net, diff, scale, diff / scale))
    if not diff <= 1e-4 * scale:
        sys.exit("%s: our logits differ from torchvision's by %.3g relative" % (net, diff / scale))


if __name__ == "__main__":
    cmd, net, prefix = sys.argv[1:4]
    cifar = "--cifar-stem" in sys.argv
    if cmd == "make":
        make(net, prefix, cifar)
    else:
        check(net, prefix, sys.argv[4], sys.argv[5], cifar)
