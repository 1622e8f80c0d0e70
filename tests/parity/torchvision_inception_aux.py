"""torchvision's own Inception3 with its auxiliary classifier
(inception_v3(aux_logits=True, init_weights=False, transform_input=False)),
made to follow a parity step of bmst_dist's `inceptionv3 --aux-logits`: the
reference of the parity test's aux cases (test_parity.py).

Nothing of the network is rewritten: torchvision's modules compute it. What
the test must control is wired in from outside, as torch_inception.py's
model has it built in:
  - the ReLUs (F.relu inside torchvision's BasicConv2d) and the max pools
    (its maxpool1/maxpool2 modules, F.max_pool2d inside InceptionB/D) follow
    the engine's masks and arg-max choices (torch_inception.Relu, MaxPool)
    through a stand-in for torch.nn.functional in torchvision's inception
    module alone, for the duration of a forward;
  - dropout applies the engine's masks (MaskDropout);
  - the BMST merge folds the batch before module mix_at of the 16 (1 =
    Conv2d_1a_3x3 .. 16 = Mixed_7c) with a forward pre-hook; when it comes
    after Mixed_6e (mix_at 14..16), the auxiliary head's input is folded too,
    as the engine merges before its head (docs/design-notes.md).
In training, forward returns torchvision's InceptionOutputs(logits,
aux_logits); in evaluation the logits alone."""
import types

import torch
from torch import nn
import torch.nn.functional as F
from torchvision.models import inception as tv_inception

from torch_inception import MaxPool
from torch_resnet import ResNet, Relu

MODULES = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3",
           "Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d",
           "Mixed_6e", "Mixed_7a", "Mixed_7b", "Mixed_7c"]
AUX_AFTER = MODULES.index("Mixed_6e") + 1  # module 13
AUX_WEIGHT = 0.4  # torchvision's reference recipe: loss + 0.4 * aux loss


class MaskDropout(nn.Module):
    """torchvision's dropout, or the given masks ([rows, features], already
    scaled by 1 / (1 - p)) in forward order."""

    def __init__(self, p):
        super().__init__()
        self.p, self.masks = p, None

    def forward(self, x):
        if not self.training:
            return x
        if self.masks is None:
            return F.dropout(x, self.p, True)
        return x * next(self.masks).to(x.dtype).view(x.shape)


class PoolModule(nn.Module):
    """torchvision's maxpool1/maxpool2 through the shared MaxPool."""

    def __init__(self, pool):
        super().__init__()
        self.pool = pool

    def forward(self, x):
        return self.pool(x)


class TorchvisionInceptionAux(tv_inception.Inception3):
    def __init__(self, shape, classes, merge=1, mix_at=2):
        super().__init__(num_classes=classes, aux_logits=True, transform_input=False,
                         init_weights=False)
        self.merge, self.mix_at, self.lam = merge, mix_at, 1.0
        self.relu, self.max_pool = Relu(), MaxPool()
        self.dropout = MaskDropout(self.dropout.p)
        self.maxpool1, self.maxpool2 = PoolModule(self.max_pool), PoolModule(self.max_pool)
        merged = [MODULES[mix_at - 1]] + (["AuxLogits"] if mix_at > AUX_AFTER else [])
        for name in merged:
            getattr(self, name).register_forward_pre_hook(self._fold_hook)

    fold = ResNet.fold  # the BMST merge, as the ResNets fold (it reads merge and lam)

    def _fold_hook(self, module, args):
        if self.training and self.merge > 1:
            return (self.fold(args[0]),)
        return None

    def forward(self, x):
        functional = types.SimpleNamespace(**{k: getattr(F, k) for k in dir(F)
                                              if not k.startswith("__")})
        functional.relu = lambda x, inplace=False: self.relu(x)
        functional.max_pool2d = lambda x, kernel_size, stride: self.max_pool(x)
        saved, tv_inception.F = tv_inception.F, functional
        try:
            return super().forward(x)
        finally:
            tv_inception.F = saved


def aux_loss(outputs, targets, soft_cross_entropy):
    """torchvision's reference recipe: the main loss plus 0.4 times the
    auxiliary head's, each against the same soft targets."""
    return (soft_cross_entropy(outputs.logits, targets)
            + AUX_WEIGHT * soft_cross_entropy(outputs.aux_logits, targets))
