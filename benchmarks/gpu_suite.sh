#!/usr/bin/env bash
# The speed benchmarks that apply on a GPU, in one run, merged into one JSON with the papers'
# figures alongside (benchmarks/suite_report.py):
#
#   vs_pytorch.py     ParaLip / Wav2Lip / DCK inference, lipjax against PyTorch on the device
#   train_step.py     one training step of ParaLip, DCK and Wav2Lip (synthetic and paper sizes)
#   talk_pipeline.py  the streaming talk pipeline at 256x256 faces in 1280x720 frames
#   compile_cache.py  first vs second start-up of `lipjax lip` / `talk` (persistent cache)
#
#   bash benchmarks/gpu_suite.sh [--cpu] [--tiny] [--skip PART,...] [--out DIR]
#
#   --cpu   run on the CPU (JAX_PLATFORMS=cpu): what CI and a machine without a GPU can check
#   --tiny  seconds-long settings (tiny models and batches): proves the suite runs, measures
#           nothing worth quoting
#   --skip  parts not to run (vs_pytorch, train_step, talk_pipeline, compile_cache); the
#           merged JSON lists them under missing_parts
#   --out   output folder (default benchmarks/results/gpu_suite); the merged file is
#           gpu_suite.json there, each part's JSON and PNG under parts/
#
# Without --cpu it refuses to start unless JAX sees a GPU. Run it from the repository root with
# the project's environment (torch with CUDA for the PyTorch side on the GPU).
set -euo pipefail

cpu=0
tiny=0
out="benchmarks/results/gpu_suite"
skip=","
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cpu) cpu=1 ;;
    --tiny) tiny=1 ;;
    --out) out="$2"; shift ;;
    --skip) skip=",$2,"; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "gpu_suite.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python}"
if [[ $cpu == 1 ]]; then
  export JAX_PLATFORMS=cpu
else
  "$python" -c 'import jax, sys; sys.exit(jax.default_backend() != "gpu")' || {
    echo "gpu_suite.sh: JAX sees no GPU (jax.default_backend() is not 'gpu'); pass --cpu" >&2
    exit 2
  }
fi
parts="$out/parts"
mkdir -p "$parts"

if [[ $tiny == 1 ]]; then
  vs=(--tiny)
  train=(--sizes synthetic --steps 1 --no_loop --systems paralip  # tests' tiny ParaLip
         --set model.hidden=32 --set model.ffn_hidden=64 --set model.encoder_layers=1
         --set model.decoder_layers=1 --set "model.identity_channels=(8, 8, 16, 16)"
         --set "model.video_decoder_channels=(16, 16, 8, 8, 8)" --set model.duration_channels=32
         --set model.identity_dim=32 --set model.decoder_seed_channels=16
         --set "data.buckets=[(40, 112)]" --set data.batch_size=2)
  talk=(--model small --size 320x240 --seconds 1 --batch_size 4 --repeats 1)
  cache=(--commands lip --small)
else
  vs=()
  train=()
  talk=()
  cache=()
fi

run_part() {  # run_part NAME ARGS...: benchmarks/NAME.py unless --skip names it
  local name="$1"; shift
  [[ $skip == *",$name,"* ]] && { echo "gpu_suite.sh: skipping $name"; return 0; }
  "$python" "$here/$name.py" --out "$parts" "$@"
}

started=$(date +%s)
run_part vs_pytorch ${vs[@]+"${vs[@]}"}
run_part train_step ${train[@]+"${train[@]}"}
run_part talk_pipeline ${talk[@]+"${talk[@]}"}
run_part compile_cache ${cache[@]+"${cache[@]}"}
"$python" "$here/suite_report.py" --parts "$parts" --out "$out/gpu_suite.json" \
  --seconds "$(( $(date +%s) - started ))" $([[ $tiny == 1 ]] && echo --tiny)
echo "gpu_suite.sh: wrote $out/gpu_suite.json"
