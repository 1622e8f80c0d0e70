"""The PyTorch side of bench/cpu_vs_pytorch.sh: the same training step as
`bmst_dist bench` (same network from tests/parity/torch_resnet.py or
torch_inception.py, or for a DenseNet torchvision's own eager model, input shape,
batch, BMST merge, thread count; SGD with momentum 0.9 and weight decay 5e-4 on
synthetic inputs), timed the same way: `warmup` untimed steps, then `steps`
timed ones. Prints one `bench: key=value ...` line as bmst_dist does.

usage: /usr/bin/python3 bench/pytorch_cpu.py --net resnet20 --shape 28x28x1
       --classes 10 --batch 64 --merge 2 --steps 20 --warmup 3 --threads 2"""
import argparse
import os
import resource
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "parity"))
from torch_densenet import torchvision_densenet  # noqa: E402
from torch_resnet import ResNet, soft_cross_entropy, soft_targets  # noqa: E402
from torch_inception import InceptionV3  # noqa: E402



def main():
    p = argparse.ArgumentParser()
    p.add_argument("--net", default="resnet20")
    p.add_argument("--shape", default="32x32x3")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--merge", type=int, default=1)
    p.add_argument("--mix-at", default="c2")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    h, w, c = map(int, a.shape.split("x"))
    mix_at = int(a.mix_at.lstrip("c"))
    if a.net == "inceptionv3":
        model = InceptionV3((h, w, c), a.classes, a.merge, mix_at).train()
    elif a.net.startswith("densenet"):
        model = torchvision_densenet(a.net, (h, w, c), a.classes, a.merge, mix_at).train()
    else:
        model = ResNet(a.net, (h, w, c), a.classes, a.merge, mix_at).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(a.batch, c, h, w)
    labels = torch.randint(0, a.classes, (a.batch,))
    rng = np.random.default_rng(1)

    def step():
        model.lam = float(rng.beta(1.0, 1.0)) if a.merge > 1 else 1.0
        targets = soft_targets(labels, a.classes, 0.0, torch.float32)
        if a.merge > 1:
            targets = model.fold(targets)
        opt.zero_grad(set_to_none=True)
        loss = soft_cross_entropy(model(x), targets)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(a.warmup):
        step()
    start = time.perf_counter()
    for _ in range(a.steps):
        step()
    seconds = time.perf_counter() - start
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(f"bench: net={a.net} shape={a.shape} batch={a.batch} merge={a.merge} "
          f"threads={a.threads} torch={torch.__version__} steps={a.steps} "
          f"seconds={seconds:.3f} ms_per_step={1e3 * seconds / a.steps:.1f} "
          f"images_per_s={a.batch * a.steps / seconds:.1f} peak_rss_mib={rss_mib:.0f}")


if __name__ == "__main__":
    main()
