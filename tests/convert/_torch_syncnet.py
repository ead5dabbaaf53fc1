"""A PyTorch SyncNet v2 (syncnet_python's `SyncNetModel.S(num_layers_in_fc_layers=1024)`),
written for the import tests from the published layout (`layouts/syncnet_v2.txt`) and the
input sizes (audio `[N, 1, 13, 20]`, video `[N, 3, 5, 224, 224]`), independent of lipjax's
tables. NCHW / NCDHW, as in PyTorch.

Each `nn.Sequential` index is one layer; indices without tensors in the layout are the
parameterless ReLUs and max-pools, which bring each tower to 512 x 1 x 1 for the FC layers.
"""

from __future__ import annotations


import torch
from torch import nn

from tests._layouts import read_layout as _read_layout

def read_layout() -> list[tuple[str, tuple[int, ...]]]:
    """`(state-dict name, shape)` of every tensor of syncnet_v2.model, in file order."""
    return _read_layout("syncnet_v2")


def _audio_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 64, (3, 3), (1, 1), (1, 1)), nn.BatchNorm2d(64), nn.ReLU(),
        nn.MaxPool2d((1, 1), (1, 1)),
        nn.Conv2d(64, 192, (3, 3), (1, 1), (1, 1)), nn.BatchNorm2d(192), nn.ReLU(),
        nn.MaxPool2d((3, 3), (1, 2)),
        nn.Conv2d(192, 384, (3, 3), padding=(1, 1)), nn.BatchNorm2d(384), nn.ReLU(),
        nn.Conv2d(384, 256, (3, 3), padding=(1, 1)), nn.BatchNorm2d(256), nn.ReLU(),
        nn.Conv2d(256, 256, (3, 3), padding=(1, 1)), nn.BatchNorm2d(256), nn.ReLU(),
        nn.MaxPool2d((3, 3), (2, 2)),
        nn.Conv2d(256, 512, (5, 4), padding=(0, 0)), nn.BatchNorm2d(512), nn.ReLU())


def _lip_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(3, 96, (5, 7, 7), (1, 2, 2), 0), nn.BatchNorm3d(96), nn.ReLU(),
        nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
        nn.Conv3d(96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1)), nn.BatchNorm3d(256), nn.ReLU(),
        nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
        nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(256), nn.ReLU(),
        nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(256), nn.ReLU(),
        nn.Conv3d(256, 256, (1, 3, 3), padding=(0, 1, 1)), nn.BatchNorm3d(256), nn.ReLU(),
        nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
        nn.Conv3d(256, 512, (1, 6, 6), padding=0), nn.BatchNorm3d(512), nn.ReLU())


def _fc(size: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(),
                         nn.Linear(512, size))


class SyncNetV2Torch(nn.Module):
    """`forward_aud(x [N, 1, 13, 20])` and `forward_lip(x [N, 3, 5, 224, 224])` -> `[N, 1024]`."""

    def __init__(self, num_layers_in_fc_layers: int = 1024):
        super().__init__()
        self.netcnnaud = _audio_cnn()
        self.netfcaud = _fc(num_layers_in_fc_layers)
        self.netfclip = _fc(num_layers_in_fc_layers)
        self.netcnnlip = _lip_cnn()

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        mid = self.netcnnaud(x)
        return self.netfcaud(mid.view(mid.size(0), -1))

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        mid = self.netcnnlip(x)
        return self.netfclip(mid.view(mid.size(0), -1))


def randomised(seed: int = 0) -> SyncNetV2Torch:
    """A SyncNet v2 in eval mode with random weights and random BatchNorm statistics (means
    around 0, variances in [0.5, 1.5]) so that every tensor of the file matters."""
    torch.manual_seed(seed)
    model = SyncNetV2Torch()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model.eval()
