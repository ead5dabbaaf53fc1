"""Small PyTorch versions of Wav2Lip's three networks, written for the import tests from the
published facts (layer tables below, independent of lipjax's own tables), with the published
state-dict names: `Wav2Lip` (generator), `Wav2Lip_disc_qual` (visual-quality discriminator,
and ParaLip's Table 7 variant) and `SyncNet_color` (lip-sync expert). NCHW, as in PyTorch.

Layer rows are `(in, out, kernel, stride, padding, residual)`; strides are (rows, columns).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from tests._layouts import read_layout  # noqa: F401 (the tests import it from here)

class ConvBN(nn.Module):
    """Wav2Lip's `Conv2d` block: conv -> BatchNorm -> (+ x) -> ReLU."""

    def __init__(self, cin, cout, kernel, stride, padding, residual=False):
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, padding),
                                        nn.BatchNorm2d(cout))
        self.residual = residual

    def forward(self, x):
        y = self.conv_block(x)
        return F.relu(y + x if self.residual else y)


class ConvTransposeBN(nn.Module):
    """Wav2Lip's `Conv2dTranspose` block: transposed conv -> BatchNorm -> ReLU."""

    def __init__(self, cin, cout, kernel, stride, padding, output_padding):
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ConvTranspose2d(cin, cout, kernel, stride, padding, output_padding),
            nn.BatchNorm2d(cout))

    def forward(self, x):
        return F.relu(self.conv_block(x))


class ConvLeaky(nn.Module):
    """Wav2Lip's `nonorm_Conv2d`: conv -> LeakyReLU(0.01)."""

    def __init__(self, cin, cout, kernel, stride, padding):
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, padding))

    def forward(self, x):
        return F.leaky_relu(self.conv_block(x), 0.01)


def _res(c, n):
    return [(c, c, 3, 1, 1, True)] * n


GENERATOR_ENCODER = [
    [(6, 16, 7, 1, 3, False)],
    [(16, 32, 3, 2, 1, False)] + _res(32, 2),
    [(32, 64, 3, 2, 1, False)] + _res(64, 3),
    [(64, 128, 3, 2, 1, False)] + _res(128, 2),
    [(128, 256, 3, 2, 1, False)] + _res(256, 2),
    [(256, 512, 3, 2, 1, False)] + _res(512, 1),
    [(512, 512, 3, 1, 0, False), (512, 512, 1, 1, 0, False)],
]
# First layer of each decoder group after the first: (in, out, kernel, stride, padding,
# output_padding) of a transposed conv.
GENERATOR_DECODER = [
    [(512, 512, 1, 1, 0, False)],
    [("T", 1024, 512, 3, 1, 0, 0)] + _res(512, 1),
    [("T", 1024, 512, 3, 2, 1, 1)] + _res(512, 2),
    [("T", 768, 384, 3, 2, 1, 1)] + _res(384, 2),
    [("T", 512, 256, 3, 2, 1, 1)] + _res(256, 2),
    [("T", 320, 128, 3, 2, 1, 1)] + _res(128, 2),
    [("T", 160, 64, 3, 2, 1, 1)] + _res(64, 2),
]
AUDIO_ENCODER = ([(1, 32, 3, 1, 1, False)] + _res(32, 2) + [(32, 64, 3, (3, 1), 1, False)]
                 + _res(64, 2) + [(64, 128, 3, 3, 1, False)] + _res(128, 2)
                 + [(128, 256, 3, (3, 2), 1, False)] + _res(256, 1)
                 + [(256, 512, 3, 1, 0, False), (512, 512, 1, 1, 0, False)])
SYNCNET_AUDIO_ENCODER = AUDIO_ENCODER[:11] + _res(256, 1) + AUDIO_ENCODER[11:]
SYNCNET_FACE_ENCODER = ([(15, 32, 7, 1, 3, False), (32, 64, 5, (1, 2), 1, False)] + _res(64, 2)
                        + [(64, 128, 3, 2, 1, False)] + _res(128, 3)
                        + [(128, 256, 3, 2, 1, False)] + _res(256, 2)
                        + [(256, 512, 3, 2, 1, False)] + _res(512, 2)
                        + [(512, 512, 3, 2, 1, False), (512, 512, 3, 1, 0, False),
                           (512, 512, 1, 1, 0, False)])
# Wav2Lip_disc_qual: (in, out, kernel, stride, padding) per block; index 10 (the 11th conv)
# has padding 1 in Wav2Lip and 0 in ParaLip's Table 7.
QUALITY_BLOCKS = [
    [(3, 32, 7, 1, 3)],
    [(32, 64, 5, (1, 2), 2), (64, 64, 5, 1, 2)],
    [(64, 128, 5, 2, 2), (128, 128, 5, 1, 2)],
    [(128, 256, 5, 2, 2), (256, 256, 5, 1, 2)],
    [(256, 512, 3, 2, 1), (512, 512, 3, 1, 1)],
    [(512, 512, 3, 2, 1), (512, 512, 3, 1, 1)],
    [(512, 512, 3, 1, 0), (512, 512, 1, 1, 0)],
]


def _layer(row):
    return ConvTransposeBN(*row[1:]) if row[0] == "T" else ConvBN(*row)


class TorchWav2Lip(nn.Module):
    """`Wav2Lip`: forward(audio [B, T, 1, 80, 16], faces [B, 6, T, 96, 96]) -> [B, 3, T, 96, 96]
    (T folded time-major into the batch, as Wav2Lip does), or 4-D inputs without T."""

    def __init__(self):
        super().__init__()
        self.face_encoder_blocks = nn.ModuleList(
            nn.Sequential(*map(_layer, group)) for group in GENERATOR_ENCODER)
        self.audio_encoder = nn.Sequential(*map(_layer, AUDIO_ENCODER))
        self.face_decoder_blocks = nn.ModuleList(
            nn.Sequential(*map(_layer, group)) for group in GENERATOR_DECODER)
        self.output_block = nn.Sequential(ConvBN(80, 32, 3, 1, 1), nn.Conv2d(32, 3, 1, 1, 0),
                                          nn.Sigmoid())

    def forward(self, audio, faces):
        batch, five_d = audio.size(0), faces.dim() > 4
        if five_d:
            audio = torch.cat([audio[:, t] for t in range(audio.size(1))], dim=0)
            faces = torch.cat([faces[:, :, t] for t in range(faces.size(2))], dim=0)
        skips, x = [], faces
        for block in self.face_encoder_blocks:
            x = block(x)
            skips.append(x)
        x = self.audio_encoder(audio)
        for block in self.face_decoder_blocks:
            x = torch.cat((block(x), skips.pop()), dim=1)
        x = self.output_block(x)
        return torch.stack(torch.split(x, batch, dim=0), dim=2) if five_d else x


class TorchQualityDiscriminator(nn.Module):
    """`Wav2Lip_disc_qual` (`table7=False`): forward(faces [B, 3, T, 96, 96]) -> [T * B, 1]
    sigmoid scores of the lower halves. `table7=True`: ParaLip's variant, 11th conv padding 0,
    no crop, no sigmoid, on [N, 3, 80, 160] frames -> [N, 1]."""

    def __init__(self, table7=False):
        super().__init__()
        self.table7 = table7
        groups = [list(group) for group in QUALITY_BLOCKS]
        if table7:
            groups[5][1] = groups[5][1][:4] + (0,)
        self.face_encoder_blocks = nn.ModuleList(
            nn.Sequential(*(ConvLeaky(*row) for row in group)) for group in groups)
        self.binary_pred = nn.Sequential(nn.Conv2d(512, 1, 1, 1, 0), nn.Sigmoid())

    def forward(self, faces):
        if not self.table7:
            faces = torch.cat([faces[:, :, t] for t in range(faces.size(2))], dim=0)
            faces = faces[:, :, faces.size(2) // 2:]
        x = faces
        for block in self.face_encoder_blocks:
            x = block(x)
        x = self.binary_pred[0](x) if self.table7 else self.binary_pred(x)
        return x.view(len(x), -1)


class TorchSyncNetColor(nn.Module):
    """`SyncNet_color`: forward(audio [N, 1, 80, 16], faces [N, 15, 48, 96]) -> (audio, face)
    L2-normalised [N, 512] embeddings."""

    def __init__(self):
        super().__init__()
        self.face_encoder = nn.Sequential(*map(_layer, SYNCNET_FACE_ENCODER))
        self.audio_encoder = nn.Sequential(*map(_layer, SYNCNET_AUDIO_ENCODER))

    def forward(self, audio, faces):
        face = self.face_encoder(faces).view(faces.size(0), -1)
        audio = self.audio_encoder(audio).view(audio.size(0), -1)
        return F.normalize(audio, p=2, dim=1), F.normalize(face, p=2, dim=1)


def randomise(module: nn.Module, seed: int, *calibration_inputs: torch.Tensor) -> nn.Module:
    """Random weights (PyTorch's initialisers under `seed`), random BatchNorm affine parameters
    and running statistics, then every conv rescaled (weight and bias by one factor) so that its
    output on `calibration_inputs` has unit standard deviation: without that, 20-40 random
    layers leave outputs that hardly depend on the input (or saturate the sigmoid), and a
    comparison of outputs would test little. Returns the module in eval mode."""
    torch.manual_seed(seed)
    module.eval()
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            layer.reset_parameters()
        elif isinstance(layer, nn.BatchNorm2d):
            with torch.no_grad():
                layer.weight.uniform_(0.5, 1.5)
                layer.bias.normal_(0.0, 0.1)
                layer.running_mean.normal_(0.0, 0.1)
                layer.running_var.uniform_(0.5, 2.0)
                layer.num_batches_tracked.fill_(1000)

    def rescale(layer: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        scale = output.std().clamp_min(1e-6)
        layer.weight.div_(scale)
        layer.bias.div_(scale)
        return output / scale

    hooks = [layer.register_forward_hook(rescale) for layer in module.modules()
             if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d))]
    with torch.no_grad():
        module(*calibration_inputs)
    for hook in hooks:
        hook.remove()
    return module


def save_published(module: nn.Module, path: Path, state: dict | None = None) -> Path:
    """Saves `module` (or `state`) as Wav2Lip publishes checkpoints: `module.`-prefixed keys in
    `{"state_dict", "optimizer", "global_step", "global_epoch"}`."""
    state = module.state_dict() if state is None else state
    torch.save({"state_dict": {"module." + k: v for k, v in state.items()}, "optimizer": {},
                "global_step": 0, "global_epoch": 0}, path)
    return path
