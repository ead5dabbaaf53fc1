"""A PyTorch model of the official ParaLip generator, written for the equivalence tests from the
published state-dict layout (`layouts/paralip_official.txt`) and the documented behaviour:

- text encoder: embedding (pad 0) * sqrt(C) + sinusoidal positions (tensor2tensor style, sin half
  then cos half, positions from 1 over non-padding tokens, padding the zero vector), FFT layers,
  final LayerNorm eps 1e-12, padded rows zeroed;
- FFT layer: `x + Attn(LN1(x))`, padded rows zeroed, `x + FFN(LN2(x))`, padded rows zeroed;
  attention: 2 heads, one stacked `[3C, C]` q/k/v matrix and a `[C, C]` output projection, no
  biases, padded keys masked (computed by `torch.nn.functional.multi_head_attention_forward`);
  FFN: Conv1d C -> 4C (kernel 9, SAME, bias) * 9**-0.5, ReLU, Linear 4C -> C; dropouts 0.0
  (attention), 0.2 (ReLU), 0.2 (residual); LayerNorm eps 1e-5;
- duration predictor: 2 x [Conv1d k=3 SAME -> ReLU -> LayerNorm over channels eps 1e-12 ->
  dropout 0.5, padded rows zeroed] -> Linear C -> 1 = log(d + 1); inference
  `d = max(round(exp(x) - 1), 0)`, all 1 if all 0;
- length regulator: frame -> token map (1-based, 0 = padding) over the batch's longest video, the
  expanded sequence a gather with a zero row prepended;
- identity encoder: 4 x [Conv 5x5 /2 pad 2 -> BatchNorm -> ReLU], flatten (channels first),
  Linear -> C, tanh; the embedding is added to every frame, padding frames zeroed;
- motion decoder: + pos_embed_alpha * positions of the non-zero rows (all-zero rows are padding),
  4 FFT layers, LayerNorm eps 1e-5;
- video decoder, per frame: Linear(2C -> 256*5*10) on [identity, motion], viewed [256, 5, 10],
  ReLU, 4 x [concat skip -> ConvTranspose 5x5 /2 (padding 2, output padding 1) -> BatchNorm ->
  ReLU], Conv 5x5 -> BatchNorm -> ReLU, Conv 5x5, tanh; frames past each length zeroed.

Only the test suite uses it (torch is a test dependency of the importer).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

HIDDEN, HEADS, FFN, KERNEL, LAYERS = 256, 2, 1024, 9, 4


def sinusoids(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """`[..., dim]` tensor2tensor vectors of 1-based `positions` (0 -> the zero vector)."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float32) * -(math.log(10000.0) / (half - 1)))
    angles = positions.float()[..., None] * freqs
    vectors = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)
    return vectors * (positions != 0)[..., None].float()


def running_positions(valid: torch.Tensor) -> torch.Tensor:
    """1-based positions over the True entries of `valid` `[B, L]`, 0 elsewhere."""
    valid = valid.long()
    return torch.cumsum(valid, dim=1) * valid


class Positions(nn.Module):
    """Holds the `_float_tensor` buffer the official sinusoidal module saves."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("_float_tensor", torch.zeros(1))


class SelfAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.in_proj_weight = nn.Parameter(torch.empty(3 * HIDDEN, HIDDEN))
        self.out_proj = nn.Linear(HIDDEN, HIDDEN, bias=False)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """x `[L, B, C]` (time first), padding bool `[B, L]` (True = padded key)."""
        out, _ = F.multi_head_attention_forward(
            x, x, x, HIDDEN, HEADS, self.in_proj_weight, None, None, None, False, 0.0,
            self.out_proj.weight, None, training=self.training, key_padding_mask=padding,
            need_weights=False)
        return out


class ConvFFN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ffn_1 = nn.Conv1d(HIDDEN, FFN, KERNEL, padding=KERNEL // 2)
        self.ffn_2 = nn.Linear(FFN, HIDDEN)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x `[L, B, C]`."""
        h = self.ffn_1(x.permute(1, 2, 0)).permute(2, 0, 1) * KERNEL ** -0.5
        h = F.dropout(F.relu(h), 0.2, self.training)
        return self.ffn_2(h)


class FFTOp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(HIDDEN, eps=1e-5)
        self.self_attn = SelfAttention()
        self.layer_norm2 = nn.LayerNorm(HIDDEN, eps=1e-5)
        self.ffn = ConvFFN()

    def forward(self, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        keep = (~padding).t()[..., None].float()  # [L, B, 1]
        x = (x + F.dropout(self.self_attn(self.layer_norm1(x), padding), 0.2, self.training)) * keep
        return (x + F.dropout(self.ffn(self.layer_norm2(x)), 0.2, self.training)) * keep


class FFTLayer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.op = FFTOp()

    def forward(self, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        return self.op(x, padding)


class TextEncoder(nn.Module):
    def __init__(self, embed_tokens: nn.Embedding) -> None:
        super().__init__()
        self.embed_tokens = embed_tokens
        self.embed_positions = Positions()
        self.layers = nn.ModuleList(FFTLayer() for _ in range(LAYERS))
        self.layer_norm = nn.LayerNorm(HIDDEN, eps=1e-12)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens `[B, S]` -> `[B, S, C]`, padded rows zero."""
        padding = tokens == 0
        x = self.embed_tokens(tokens) * math.sqrt(HIDDEN) + sinusoids(
            running_positions(~padding), HIDDEN)
        x = F.dropout(x, 0.2, self.training).transpose(0, 1)
        for layer in self.layers:
            x = layer(x, padding)
        x = self.layer_norm(x) * (~padding).t()[..., None].float()
        return x.transpose(0, 1)


class MotionDecoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pos_embed_alpha = nn.Parameter(torch.ones(1))
        self.embed_positions = Positions()
        self.layers = nn.ModuleList(FFTLayer() for _ in range(LAYERS))
        self.layer_norm = nn.LayerNorm(HIDDEN, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x `[B, T, C]` with all-zero padding rows -> `[B, T, C]`."""
        padding = x.abs().sum(-1) == 0
        x = x + self.pos_embed_alpha * sinusoids(running_positions(~padding), HIDDEN)
        x = F.dropout(x, 0.2, self.training).transpose(0, 1)
        for layer in self.layers:
            x = layer(x, padding)
        return self.layer_norm(x).transpose(0, 1)


class ChannelLayerNorm(nn.LayerNorm):
    """LayerNorm over the channels of `[B, C, T]`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class DurationPredictor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.ModuleList(
            nn.Sequential(nn.Conv1d(HIDDEN, HIDDEN, 3), nn.ReLU(), ChannelLayerNorm(HIDDEN, eps=1e-12),
                          nn.Dropout(0.5)) for _ in range(2))
        self.linear = nn.Linear(HIDDEN, 1)

    def forward(self, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """x `[B, S, C]` -> log(d + 1) `[B, S]`, 0 on padding."""
        x = x.transpose(1, 2)
        for block in self.conv:
            x = block(F.pad(x, [1, 1])) * (~padding)[:, None, :].float()
        return self.linear(x.transpose(1, 2))[..., 0].masked_fill(padding, 0.0)


def frame_to_token(durations: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """`[B, T]` 1-based token of each frame over the longest video, 0 = padding; a sequence whose
    durations are all zero gets 1 per token."""
    maps = []
    for d, n in zip(durations, lengths):
        d = d[:n].clone()
        if d.sum() == 0:
            d.fill_(1)
        maps.append(torch.repeat_interleave(torch.arange(1, n + 1), d))
    longest = max(len(m) for m in maps)
    return torch.stack([F.pad(m, [0, longest - len(m)]) for m in maps])


class ConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv_norm = nn.Sequential(nn.Conv2d(cin, cout, 5, stride, 2), nn.BatchNorm2d(cout),
                                       nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_norm(x)


class TransConvBlock(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.trans_conv = nn.Sequential(
            nn.ConvTranspose2d(cin, cout, 5, 2, 2, output_padding=1), nn.BatchNorm2d(cout), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trans_conv(x)


class IdentityEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = ConvBlock(3, 16, 2), ConvBlock(16, 32, 2)
        self.conv3, self.conv4 = ConvBlock(32, 64, 2), ConvBlock(64, 128, 2)
        self.fc = nn.Linear(128 * 5 * 10, HIDDEN)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """image `[B, 3, 80, 160]` -> (tanh embedding `[B, C]`, the 4 maps, finest first)."""
        skips = []
        x = image
        for block in (self.conv1, self.conv2, self.conv3, self.conv4):
            x = block(x)
            skips.append(x)
        return torch.tanh(self.fc(x.flatten(1))), skips


class VideoDecoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2 * HIDDEN, 256 * 5 * 10)
        self.dconv1, self.dconv2 = TransConvBlock(384, 196), TransConvBlock(260, 128)
        self.dconv3, self.dconv4 = TransConvBlock(160, 80), TransConvBlock(96, 48)
        self.dconv5 = ConvBlock(48, 16, 1)
        self.dconv6 = nn.Conv2d(16, 3, 5, 1, 2)

    def forward(self, z: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        """z `[N, 2C]`, skips `[N, c, h, w]` finest first -> `[N, 3, 80, 160]` in (-1, 1)."""
        x = F.relu(self.fc(z).view(-1, 256, 5, 10))
        for block, skip in zip((self.dconv1, self.dconv2, self.dconv3, self.dconv4), skips[::-1]):
            x = block(torch.cat([x, skip], dim=1))
        return torch.tanh(self.dconv6(self.dconv5(x)))


class OfficialParaLip(nn.Module):
    """The official generator's layout (`model.` stripped) and inference arithmetic."""

    def __init__(self, vocab_size: int = 32) -> None:
        super().__init__()
        self.encoder_embed_tokens = nn.Embedding(vocab_size, HIDDEN, padding_idx=0)
        self.encoder = TextEncoder(self.encoder_embed_tokens)
        self.decoder = MotionDecoder()
        self.mel_out = nn.Linear(HIDDEN, 80)              # unused heads of the release
        self.spk_embed_proj = nn.Linear(256, HIDDEN)
        self.dur_predictor = DurationPredictor()
        self.img_encoder = IdentityEncoder()
        self.img_decoder = VideoDecoder()

    def forward(self, tokens: torch.Tensor, identity: torch.Tensor,
                durations: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
        """tokens `[B, S]` (0 = padding, trailing), identity `[B, 80, 160, 3]` in [0, 1],
        durations optional `[B, S]` (None: predicted).

        Returns (frames `[B, T, 80, 160, 3]` over the longest video, zero past each length;
        frame -> token map `[B, T]`)."""
        padding = tokens == 0
        text = self.encoder(tokens)
        if durations is None:
            log_d = self.dur_predictor(text.detach(), padding)
            durations = torch.clamp(torch.round(log_d.exp() - 1), min=0).long()
        regulation = frame_to_token(durations, (~padding).sum(-1))
        padded_text = F.pad(text, [0, 0, 1, 0])                       # row 0 = zero
        x = torch.gather(padded_text, 1, regulation[..., None].expand(-1, -1, HIDDEN))
        embedding, skips = self.img_encoder(identity.permute(0, 3, 1, 2))
        valid = (regulation != 0).float()
        x = (x + embedding[:, None, :]) * valid[..., None]
        motion = self.decoder(x)
        batch, frames = regulation.shape
        z = torch.cat([embedding[:, None, :].expand(-1, frames, -1), motion], dim=-1)
        frame_skips = [s.repeat_interleave(frames, dim=0) for s in skips]
        out = self.img_decoder(z.reshape(batch * frames, -1), frame_skips)
        out = out.view(batch, frames, 3, 80, 160).permute(0, 1, 3, 4, 2)
        return out * valid[..., None, None, None], regulation
