"""`lipjax convert`: a published PyTorch checkpoint -> a lipjax workdir.

    lipjax convert paralip --torch_checkpoint model_ckpt_steps_32000.ckpt --out runs/paralip_timit \
        [--vocabulary dict.txt]
    lipjax convert wav2lip --torch_checkpoint wav2lip_gan.pth --out runs/wav2lip
    lipjax convert syncnet --torch_checkpoint syncnet_v2.model --out runs/syncnet_v2
        (or lipsync_expert.pth, Wav2Lip's SyncNet_color; the kind is read from the tensors)

The workdir is what `lipjax lip`, `lipjax talk`, `lipjax evaluate` and `lipjax evaluate-sync`
accept; nothing is written when the checkpoint does not match the model. `--out` (a new or
empty folder whose parent exists and is writable) and `--torch_checkpoint` (a readable,
non-empty file) are checked before the file is read. A checkpoint of another published model
is named as such, with the command that converts it.

Errors are one line: a list of mismatched tensors is shortened to its count and first entries,
as is a PyTorch unpickling message (`one_line_errors`, also used by `talk` and
`evaluate-sync`, which read .pth files too).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
from pathlib import Path
from typing import Iterator

__all__ = ["register_convert", "one_line_errors", "guess_published_model"]

MODELS = ("paralip", "wav2lip", "syncnet")
_SHOWN_LINES = 3  # entries of a multi-line error kept in the one-line message

# Top-level tensor names (after `module.` / `model.`) -> the model, and what converts it.
_SIGNATURES = (
    ({"face_decoder_blocks"}, "Wav2Lip's generator (wav2lip.pth)", "wav2lip",
     "convert it with `lipjax convert wav2lip`"),
    ({"binary_pred"}, "Wav2Lip's visual-quality discriminator", None,
     "load it with lipjax.convert.load_wav2lip_discriminator (no command converts it)"),
    ({"netcnnaud", "netcnnlip"}, "SyncNet v2 (syncnet_v2.model)", "syncnet",
     "convert it with `lipjax convert syncnet`"),
    ({"face_encoder", "audio_encoder"}, "Wav2Lip's lip-sync expert (lipsync_expert.pth)",
     "syncnet", "convert it with `lipjax convert syncnet`"),
    ({"img_decoder", "dur_predictor"}, "the official ParaLip release", "paralip",
     "convert it with `lipjax convert paralip`"),
)

@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """Re-raises a multi-line `LipjaxError` as the same class with a one-line message: the
    first line, the number of further lines and the first `_SHOWN_LINES` of them (PyTorch's
    long unpickling message becomes what it means)."""
    from lipjax.errors import LipjaxError

    try:
        yield
    except LipjaxError as error:
        lines = [" ".join(line.split()) for line in str(error).splitlines()]
        lines = [line for line in lines if line]
        if len(lines) <= 1:
            raise
        raise type(error)(_unpickling_summary(lines) or _shortened(lines)) from error


def _shortened(lines: list[str]) -> str:
    more = lines[1:]
    rest = f"; ... ({len(more) - _SHOWN_LINES} more)" if len(more) > _SHOWN_LINES else ""
    return f"{lines[0].rstrip(':')}: {'; '.join(more[:_SHOWN_LINES])}{rest}"


_TORCH_UNREADABLE = re.compile(r"^(cannot read .* as a PyTorch checkpoint) \(\w+: Weights only load")


def _unpickling_summary(lines: list[str]) -> str | None:
    """torch.load(weights_only=True)'s refusal, in one line without its advice to disable
    the protection (a file lipjax cannot read safely is not run)."""
    match = _TORCH_UNREADABLE.match(lines[0])
    if not match:
        return None
    details = [line for line in lines[1:] if not line.startswith(("Please file", "Check the "))]
    detail = f" ({details[0].rstrip('.)')})" if details else ""
    return (f"{match.group(1)}: it is not one, it is truncated or corrupt, or it pickles objects "
            f"that lipjax does not run{detail}")


def guess_published_model(path: str | os.PathLike) -> tuple[str, str | None, str] | None:
    """`(model, its convert command's model name or None, what to do)` of a published
    checkpoint, from its tensor names; None if unreadable or like none of `_SIGNATURES`."""
    from lipjax.convert.torch_io import read_state_dict
    from lipjax.errors import LipjaxError

    try:
        names = {key.split(".")[0] for key in read_state_dict(path)}
    except LipjaxError:
        return None
    for signature, model, command, advice in _SIGNATURES:
        if signature <= names:
            return model, command, advice
    return None


def _check_paths(args: argparse.Namespace) -> None:
    """--torch_checkpoint and --out, before the (possibly large) checkpoint is read."""
    from lipjax.errors import InputError

    source, out = Path(args.torch_checkpoint), Path(args.out)
    if not source.exists():
        raise InputError(f"--torch_checkpoint {str(source)!r} does not exist; check the path")
    if source.is_dir() and args.model != "paralip":
        raise InputError(f"--torch_checkpoint {str(source)!r} is a folder; give the .pth / "
                         ".model file (only `convert paralip` takes a folder)")
    if not os.access(source, os.R_OK):
        raise InputError(f"cannot read --torch_checkpoint {str(source)!r}: permission denied")
    if source.is_file() and source.stat().st_size == 0:
        raise InputError(f"--torch_checkpoint {str(source)!r} is empty (0 bytes); download it "
                         "again")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"--out {str(out)!r} already exists; convert into a new folder")
    if not out.parent.is_dir():
        raise InputError(f"the folder {str(out.parent)!r} of --out does not exist; create it "
                         "first")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot create --out {str(out)!r}: folder {str(out.parent)!r} is not "
                         "writable (permission denied)")


@contextlib.contextmanager
def _named_model_errors(model: str, path: str) -> Iterator[None]:
    """A ConversionError names the published model the file really holds, when it can."""
    from lipjax.errors import ConversionError

    try:
        yield
    except ConversionError as error:
        guess = guess_published_model(path) if Path(path).is_file() else None
        if guess is None or guess[1] == model:
            raise
        raise ConversionError(f"{path!r} is not a {model} checkpoint: its tensors are those of "
                              f"{guess[0]}; {guess[2]}") from error


def _convert(args: argparse.Namespace) -> int:
    from lipjax.convert import convert_paralip, convert_syncnet, convert_wav2lip
    from lipjax.errors import InputError

    if args.vocabulary and args.model != "paralip":
        raise InputError("--vocabulary applies to `lipjax convert paralip` only")
    _check_paths(args)
    with one_line_errors(), _named_model_errors(args.model, args.torch_checkpoint):
        if args.model == "paralip":
            out = convert_paralip(args.torch_checkpoint, args.out, vocabulary=args.vocabulary)
        elif args.model == "wav2lip":
            out = convert_wav2lip(args.torch_checkpoint, args.out)
        else:
            out = convert_syncnet(args.torch_checkpoint, args.out)
    print(f"wrote {out} ({args.model} from {args.torch_checkpoint})")
    return 0


def register_convert(subparsers: argparse._SubParsersAction) -> None:
    """Registers `lipjax convert`."""
    p = subparsers.add_parser("convert", help="import a published PyTorch checkpoint",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("model", choices=MODELS, help="which published model the file holds")
    p.add_argument("--torch_checkpoint", required=True,
                   help="the .pth / .ckpt / .model file (ParaLip: or the folder holding "
                        "model_ckpt_steps_<N>.ckpt)")
    p.add_argument("--out", required=True, help="the workdir to create (must not exist)")
    p.add_argument("--vocabulary", default=None,
                   help="ParaLip TIMIT: the release's dict.txt or phone_set.json")
    p.set_defaults(handler=_convert)
