"""Where a ParaLip checkpoint gains or loses PSNR: silent frames against speech frames.

    python experiments/paralip_frame_breakdown.py --workdir=demo_out/paralip_run [--split=test]

For every video of the split it generates with predicted and with ground-truth durations (the
first frame as identity, as in evaluation) and splits the per-frame PSNR by the ground-truth
token under each frame: `<sil>` or speech. The "repeat the identity frame" baseline is split the
same way. Also prints the signed length error (predicted minus true frames). Prints JSON.
"""

import json

import jax
import numpy as np
from absl import app, flags

from lipjax import metrics
from lipjax.paralip.generate import LipGenerator
from lipjax.text import SIL
from lipjax.data.builders import load_source

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "A ParaLip training workdir.")
flags.DEFINE_string("split", "test", "Dataset split.")
flags.mark_flags_as_required(["workdir"])


# [T, H, W, 3] x2 -> [T]. Not jitted: every video length would compile anew.
per_frame_psnr = jax.vmap(metrics.psnr)


def frame_breakdown(workdir: str, split: str) -> dict:
    generator = LipGenerator.from_checkpoint(workdir)
    config = generator.config
    silence_id = generator.vocabulary.symbols.index(SIL)
    source = load_source(config.data, split)
    per_frame = {name: {"silence": [], "speech": []} for name in ("pred_dur", "gt_dur", "baseline")}
    signed_length_errors = []
    for index in range(len(source)):
        example = source[index]
        target = example["frames"].astype(np.float32) / 255.0
        identity = target[0]
        text = example["text"].decode() if isinstance(example["text"], bytes) else example["text"]
        is_silence = np.repeat(example["tokens"] == silence_id, example["durations"])
        predicted = generator(text, identity)
        signed_length_errors.append(len(predicted) - len(target))
        videos = {"pred_dur": predicted[: len(target)],
                  "gt_dur": generator(text, identity, durations=example["durations"]),
                  "baseline": np.broadcast_to(identity, target.shape)}
        for name, video in videos.items():
            n = len(video)
            psnr = np.asarray(per_frame_psnr(video, target[:n]))
            per_frame[name]["silence"] += psnr[is_silence[:n]].tolist()
            per_frame[name]["speech"] += psnr[~is_silence[:n]].tolist()
    return {
        "workdir": workdir, "split": split, "videos": len(source),
        "psnr": {name: {kind: float(np.mean(values)) for kind, values in parts.items()}
                 for name, parts in per_frame.items()},
        "frames": {kind: len(values) for kind, values in per_frame["baseline"].items()},
        "signed_length_error_mean": float(np.mean(signed_length_errors)),
        "length_abs_error_mean": float(np.mean(np.abs(signed_length_errors))),
    }


def main(argv):
    del argv
    print(json.dumps(frame_breakdown(FLAGS.workdir, FLAGS.split), indent=2))


if __name__ == "__main__":
    app.run(main)
