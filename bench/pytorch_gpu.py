"""The PyTorch side of bench/gpu_table.sh: the same networks (tests/parity/
torch_resnet.py, torch_inception.py; for a DenseNet torchvision's eager one, tests/parity/
torch_densenet.py), batch and synthetic CIFAR-shaped inputs as `bmst_dist bench
--device cuda`, SGD with momentum 0.9 and weight decay 5e-4, timed the same
way: `warmup` untimed steps, then `steps` timed ones between device
synchronizations. Modes: fp32 (TF32 off, as ours), amp (autocast fp16 +
GradScaler, channels_last), compile (amp under torch.compile). Prints one
`bench: key=value ...` line with images/s, torch.cuda.max_memory_allocated and
the device's used memory (cudaMemGetInfo), the figure comparable to ours.

usage: python3 bench/pytorch_gpu.py --net resnet18 --batch 128 --mode amp"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "parity"))
from torch_densenet import torchvision_densenet  # noqa: E402
from torch_resnet import ResNet, soft_cross_entropy, soft_targets  # noqa: E402
from torch_inception import InceptionV3  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--net", default="resnet18")
    p.add_argument("--shape", default="32x32x3")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--mode", choices=["fp32", "amp", "compile"], default="amp")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--warmup", type=int, default=10)
    a = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(1)
    h, w, c = map(int, a.shape.split("x"))
    dev = torch.device("cuda")
    if a.net == "inceptionv3":
        model = InceptionV3((h, w, c), a.classes).to(dev).train()
    elif a.net.startswith("densenet"):
        model = torchvision_densenet(a.net, (h, w, c), a.classes, 1, 2).to(dev).train()
    else:
        model = ResNet(a.net, (h, w, c), a.classes).to(dev).train()
    half = a.mode != "fp32"
    if half:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    scaler = torch.amp.GradScaler("cuda", enabled=half)
    x = torch.randn(a.batch, c, h, w, device=dev)
    if half:
        x = x.to(memory_format=torch.channels_last)
    labels = torch.randint(0, a.classes, (a.batch,), device=dev)
    targets = soft_targets(labels, a.classes, 0.0, torch.float32)

    def forward_loss():
        with torch.autocast("cuda", dtype=torch.float16, enabled=half):
            logits = model(x)
        return soft_cross_entropy(logits.float(), targets)

    loss_fn = torch.compile(forward_loss) if a.mode == "compile" else forward_loss

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss

    for _ in range(a.warmup):
        step()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(a.steps):
        step()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    free, total = torch.cuda.mem_get_info()
    print(f"bench: net={a.net} shape={a.shape} batch={a.batch} mode={a.mode} "
          f"torch={torch.__version__} steps={a.steps} seconds={seconds:.3f} "
          f"step_ms={1e3 * seconds / a.steps:.2f} images_per_s={a.batch * a.steps / seconds:.1f} "
          f"max_allocated_mib={torch.cuda.max_memory_allocated() / 2**20:.1f} "
          f"device_used_mib={(total - free) / 2**20:.1f}")


if __name__ == "__main__":
    main()
