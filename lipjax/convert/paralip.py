"""Importing the official ParaLip release (a PyTorch Lightning checkpoint) into lipjax.

    config, variables = load_paralip("checkpoints/timit", vocabulary="timit/dict.txt")
    convert_paralip("checkpoints/timit", "runs/paralip_timit", vocabulary="timit/dict.txt")
    lipjax lip --checkpoint runs/paralip_timit --text "sh iy hh ae d" --identity lip.png \
        --out out.mp4

The published file is `model_ckpt_steps_<N>.ckpt` (PyTorch Lightning, 0.x era) in a folder; the
official loader takes the largest N and reads `torch.load(...)["state_dict"]`, whose keys carry
the prefix `model.`. Besides the weights the file holds training state (optimiser states, epoch,
global step, maybe pickled hyperparameter objects): `lipjax.convert.torch_io.read_state_dict`
loads it with `weights_only=True`, other pickled globals becoming inert placeholders.

The state dict holds, besides the generator, tensors with no lipjax counterpart, each handled by
name: the unused heads `mel_out.{weight,bias}` and `spk_embed_proj.{weight,bias}` and the
sinusoidal modules' `{encoder,decoder}.embed_positions._float_tensor` are ignored;
`encoder_embed_tokens.weight` is the same tensor as `encoder.embed_tokens.weight` (checked equal);
BatchNorm's `num_batches_tracked` are dropped by the reader. Every other tensor maps onto one
Flax array (the vocabulary size comes from the embedding's rows; every other size is the
paper's), and any missing, unexpected or wrongly shaped one is a `ConversionError` naming all.

Correspondence (`model.` stripped; PyTorch -> lipjax `params` / `batch_stats`):

  encoder.embed_tokens.weight [V, 256]         encoder/embed_tokens/embedding
  <stack>.layers.<i>.op.layer_norm{1,2}.*      <stack>/layers_<i>/layer_norm{1,2}/{scale,bias}
  <stack>.layers.<i>.op.self_attn.in_proj_weight [768, 256] (q, k, v stacked)
                                               <stack>/layers_<i>/self_attn/in_proj/kernel (.T)
  <stack>.layers.<i>.op.self_attn.out_proj.weight   .../self_attn/out_proj/kernel (.T)
  <stack>.layers.<i>.op.ffn.ffn_1.* (Conv1d)   .../ffn/ffn_1/{kernel,bias} (kernel [k, in, out])
  <stack>.layers.<i>.op.ffn.ffn_2.* (Linear)   .../ffn/ffn_2/{kernel,bias}
  {encoder,decoder}.layer_norm.*               {encoder,decoder}/layer_norm/*
  decoder.pos_embed_alpha [1]                  decoder/pos_embed_alpha
  dur_predictor.conv.<j>.0.* (Conv1d)          duration_predictor/conv_<j>/*
  dur_predictor.conv.<j>.2.* (LayerNorm)       duration_predictor/layer_norm_<j>/*
  dur_predictor.linear.*                       duration_predictor/linear/*
  img_encoder.conv<n>.conv_norm.{0,1}.*        identity_encoder/conv<n>/{conv,norm}/* (BatchNorm
                                               running_{mean,var} -> batch_stats .../{mean,var})
  img_encoder.fc.*                             identity_encoder/fc/* (its input is flattened
                                               channels first, as in PyTorch)
  img_decoder.fc.*                             video_decoder/fc/* (12800 outputs = [256, 5, 10]
                                               channels first)
  img_decoder.dconv<n>.trans_conv.{0,1}.*      video_decoder/dconv<n>/{conv,norm}/* (n = 1..4,
                                               ConvTranspose2d [in, out, k, k] -> [k, k, out, in])
  img_decoder.dconv5.conv_norm.{0,1}.*         video_decoder/dconv5/{conv,norm}/*
  img_decoder.dconv6.*                         video_decoder/dconv6/*

(<stack> = encoder or decoder; Linear [out, in] -> [in, out]; Conv2d [out, in, kh, kw] ->
[kh, kw, in, out]; `lipjax.convert.torch_io.Layout`.)

The config is a training config of `lipjax.paralip.ParaLipSystem` (`lipjax.paralip.configs`):
without a vocabulary, `grid_config()` (GRID, 25 fps, lipjax's
GRID characters: the official GRID token ids come from that model's own dict, which is not
published with a checkpoint: pass it as `vocabulary` for meaningful text); with one (the TIMIT
release's `dict.txt` or `phone_set.json`), `timit_config()` (29.97 fps) with the token list
stored in `config.data.vocabulary` (`lipjax.text.TokenVocabulary`: `<pad>` 0, `<EOS>` 1, `<UNK>` 2,
the file's phonemes from 3). Its sentences are space-separated phonemes (an utterance's
`_PHN.txt` second fields), nothing added; an unknown phoneme is an InputError naming it.
Evaluating on lipjax's own `tcd_timit` corpus is not meaningful for such a model: that builder
encodes lipjax's folded phoneme set, not the release's token ids.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from lipjax.convert.torch_io import Layout, read_state_dict, specs_from_template, to_variables
from lipjax.convert.workdir import write_converted_workdir
from lipjax.errors import ConversionError, InputError
from lipjax.text import RESERVED_TOKENS, TokenVocabulary

__all__ = ["load_paralip", "convert_paralip", "find_checkpoint", "IGNORED_TENSORS",
           "EMBEDDING", "EMBEDDING_ALIAS"]

CHECKPOINT_NAME = re.compile(r"^model_ckpt_steps_(\d+)\.ckpt$")
EMBEDDING = "encoder.embed_tokens.weight"
EMBEDDING_ALIAS = "encoder_embed_tokens.weight"   # the same tensor, saved under both names
# Tensors of the official file that the generator does not use.
IGNORED_TENSORS = frozenset({
    "mel_out.weight", "mel_out.bias", "spk_embed_proj.weight", "spk_embed_proj.bias",
    "encoder.embed_positions._float_tensor", "decoder.embed_positions._float_tensor",
})
# Flax path pieces -> official names, applied in order to "params/encoder/layers_0/..." paths.
_RENAMES = (
    (r"^(params|batch_stats)/", ""),
    (r"/layers_(\d+)/", r"/layers/\1/op/"),
    (r"/in_proj/kernel$", "/in_proj_weight"),
    (r"^duration_predictor/conv_(\d+)/", r"dur_predictor/conv/\1/0/"),
    (r"^duration_predictor/layer_norm_(\d+)/", r"dur_predictor/conv/\1/2/"),
    (r"^duration_predictor/", "dur_predictor/"),
    (r"^identity_encoder/(conv\d+)/conv/", r"img_encoder/\1/conv_norm/0/"),
    (r"^identity_encoder/(conv\d+)/norm/", r"img_encoder/\1/conv_norm/1/"),
    (r"^identity_encoder/", "img_encoder/"),
    (r"^video_decoder/", "img_decoder/"),
    (r"/(kernel|scale|embedding)$", "/weight"),
    (r"/mean$", "/running_mean"),
    (r"/var$", "/running_var"),
)


def find_checkpoint(path: str | os.PathLike) -> Path:
    """`path` itself if it is a file, else its `model_ckpt_steps_<N>.ckpt` with the largest N
    (as the official loader picks).

    Raises:
      InputError: no such file or folder, or a folder without such a file.
    """
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise InputError(f"{os.fspath(path)!r} does not exist (give the official "
                         "model_ckpt_steps_<N>.ckpt or the folder holding it)")
    steps = {int(m.group(1)): p for p in path.iterdir()
             if p.is_file() and (m := CHECKPOINT_NAME.match(p.name))}
    if not steps:
        raise InputError(f"the folder {os.fspath(path)!r} holds no model_ckpt_steps_<N>.ckpt")
    return steps[max(steps)]


def _without_extras(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The state dict without the tensors the generator does not use (see the module doc).

    Raises ConversionError if `encoder_embed_tokens.weight` and `encoder.embed_tokens.weight`
    differ (they are one tensor in the official model)."""
    state = {k: v for k, v in state.items() if k not in IGNORED_TENSORS}
    alias = state.pop(EMBEDDING_ALIAS, None)
    if alias is not None and EMBEDDING not in state:
        state[EMBEDDING] = alias
    elif alias is not None and (alias.shape != state[EMBEDDING].shape
                                or not np.array_equal(alias, state[EMBEDDING])):
        raise ConversionError(f"{EMBEDDING_ALIAS} and {EMBEDDING} differ; in the official model "
                              "they are one tensor, so this is not an official ParaLip file")
    return state


def _official_name(path: tuple[str, ...], transposed: int) -> tuple[str, Layout]:
    """The official tensor name and layout of one Flax variable path (`specs_from_template`
    rule); `transposed` is the number of ConvTranspose blocks in the video decoder."""
    name = "/".join(path)
    for pattern, replacement in _RENAMES:
        name = re.sub(pattern, replacement, name)
    block = re.match(r"^img_decoder/dconv(\d+)/(conv|norm)/", name)
    if block:
        kind = "trans_conv" if int(block.group(1)) <= transposed else "conv_norm"
        index = "0" if block.group(2) == "conv" else "1"
        name = f"img_decoder/dconv{block.group(1)}/{kind}/{index}/" + name[block.end():]
    name = name.replace("/", ".")
    if not (path[-1] == "kernel" or name.endswith("in_proj_weight")):
        return name, Layout.SAME
    if ".trans_conv.0." in name:
        return name, Layout.CONV_TRANSPOSE2D
    if ".conv_norm.0." in name or name.startswith("img_decoder.dconv"):
        return name, Layout.CONV2D
    if ".ffn_1." in name or name.startswith("dur_predictor.conv."):
        return name, Layout.CONV1D
    return name, Layout.LINEAR


def _template(model_config: Any) -> dict[str, Any]:
    """The generator's variables as ShapeDtypeStructs (nothing is computed)."""
    from lipjax.paralip.model import ParaLip

    tokens = jnp.ones((1, 4), jnp.int32)
    image = jnp.zeros((1, model_config.image_height, model_config.image_width,
                       model_config.image_channels))
    model = ParaLip(model_config)
    return jax.eval_shape(lambda: model.init(jax.random.key(0), tokens, image, max_frames=4,
                                             train=False))


def _base_config(vocabulary: TokenVocabulary | None) -> ml_collections.ConfigDict:
    from lipjax.paralip.configs import grid_config, timit_config

    return grid_config() if vocabulary is None else timit_config()


def _paralip_config(vocab_size: int, vocabulary: TokenVocabulary | None
                    ) -> ml_collections.ConfigDict:
    """The training config of the imported model: every `config.model` field written out (the
    paper's sizes, the official dropouts and epsilons), the vocabulary and fps of its corpus."""
    from lipjax.paralip.system import model_config

    config = _base_config(vocabulary)
    config.model.vocab_size = vocab_size
    fields = dataclasses.asdict(model_config(config))
    config.model = ml_collections.ConfigDict(
        {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()})
    if vocabulary is not None:
        del config.data["vocabulary"]   # a name in the base config, a token list here
        config.data.vocabulary = vocabulary.to_config()
        config.data.fps = 29.97         # TCD-TIMIT
    return config


def _vocabulary_size(state: Mapping[str, np.ndarray], vocabulary: TokenVocabulary | None) -> int:
    """Rows of the checkpoint's token embedding, checked against the vocabulary."""
    from lipjax.text import GRID_CHARS

    embedding = state.get(EMBEDDING)
    if embedding is None or embedding.ndim != 2:
        return vocabulary.size if vocabulary is not None else 32  # reported as missing / misshaped
    rows = int(embedding.shape[0])
    if vocabulary is not None and rows != vocabulary.size:
        raise ConversionError(
            f"the checkpoint's token embedding has {rows} rows, but {vocabulary.name} gives "
            f"{len(RESERVED_TOKENS)} reserved tokens + {vocabulary.size - len(RESERVED_TOKENS)} "
            f"= {vocabulary.size}: it is not the vocabulary this model was trained with")
    if vocabulary is None and rows < GRID_CHARS.size:
        raise ConversionError(
            f"the checkpoint's token embedding has {rows} rows, fewer than lipjax's GRID "
            f"characters ({GRID_CHARS.size}); pass the model's dict.txt / phone_set.json as the "
            "vocabulary")
    return rows


def load_paralip(path: str | os.PathLike, *, vocabulary: str | os.PathLike | None = None
                 ) -> tuple[ml_collections.ConfigDict, dict[str, Any]]:
    """The official ParaLip generator as a lipjax training config and Flax variables.

    Args:
      path: `model_ckpt_steps_<N>.ckpt`, or the folder holding such files (the largest N).
      vocabulary: the model's `dict.txt` or `phone_set.json` (the TIMIT release's; see the
        module doc); None: a GRID model read with lipjax's GRID characters.

    Returns:
      `(config, {"params": ..., "batch_stats": ...})`; `ParaLip(model_config(config))` with these
      variables reproduces the official outputs.

    Raises:
      InputError: no such file/folder, an unreadable vocabulary file, or torch missing.
      ConversionError: an unreadable checkpoint, tensors that do not match the model (all
        named), or an embedding whose rows do not match the vocabulary.
    """
    from lipjax.paralip.system import model_config

    tokens = None if vocabulary is None else TokenVocabulary.from_file(vocabulary)
    state = _without_extras(read_state_dict(find_checkpoint(path), prefixes=("model.",)))
    config = _paralip_config(_vocabulary_size(state, tokens), tokens)
    model = model_config(config)
    transposed = len(model.identity_channels)
    specs = specs_from_template(_template(model), lambda p: _official_name(p, transposed))
    variables = to_variables(state, specs, what="the official ParaLip generator")
    return config, variables


def convert_paralip(path: str | os.PathLike, out: str | os.PathLike, *,
                    vocabulary: str | os.PathLike | None = None) -> Path:
    """`load_paralip(path, vocabulary=...)` written as a lipjax workdir at `out` (which must not
    exist, or be empty), for `lipjax lip`, `LipGenerator.from_checkpoint`, `restore_generator`
    and `lipjax evaluate`. Nothing is written when the import fails.

    Raises: as `load_paralip`; InputError if `out` exists and is not empty.
    """
    config, variables = load_paralip(path, vocabulary=vocabulary)
    return write_converted_workdir(out, config, variables)
