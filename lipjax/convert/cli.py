"""`lipjax convert`: a published PyTorch checkpoint -> a lipjax workdir.

    lipjax convert paralip --torch_checkpoint model_ckpt_steps_32000.ckpt --out runs/paralip_timit \
        [--vocabulary dict.txt]
    lipjax convert wav2lip --torch_checkpoint wav2lip_gan.pth --out runs/wav2lip
    lipjax convert syncnet --torch_checkpoint syncnet_v2.model --out runs/syncnet_v2
        (or lipsync_expert.pth, Wav2Lip's SyncNet_color; the kind is read from the tensors)

The workdir is what `lipjax lip`, `lipjax talk`, `lipjax evaluate` and `lipjax evaluate-sync`
accept; nothing is written when the checkpoint does not match the model.
"""

from __future__ import annotations

import argparse

__all__ = ["register_convert"]

MODELS = ("paralip", "wav2lip", "syncnet")


def _convert(args: argparse.Namespace) -> int:
    from lipjax.convert import convert_paralip, convert_syncnet, convert_wav2lip

    if args.model == "paralip":
        out = convert_paralip(args.torch_checkpoint, args.out, vocabulary=args.vocabulary)
    elif args.vocabulary:
        from lipjax.errors import InputError

        raise InputError("--vocabulary applies to `lipjax convert paralip` only")
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
