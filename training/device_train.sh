#!/usr/bin/env bash
# Train the default backbone on a lent GPU machine, then generate held-out evaluation audio.
# Carried in: the repo, gpu/train.npz + gpu/heldout.npz (training/pack.py) and .whl/ (soundfile,
# cffi, pycparser wheels for the machine's Python). Everything worth keeping lands in $OUT.
#   CONFIG=configs/gpu.toml bash training/device_train.sh
set -uo pipefail
CONFIG=${CONFIG:-configs/gpu.toml}
PACK_DIR=${PACK_DIR:-gpu}
OUT=${OUT:-/tmp/out}
RUN=${RUN:-/tmp/voiceadapt-run}
mkdir -p "$OUT"
if ! python3 -c "import soundfile" 2>/dev/null && [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv
start=$(date +%s)
python3 -m training.train --config "$CONFIG" --run-dir "$RUN" 2>&1 \
  | tr '\r' '\n' | awk 'NR % 50 == 1 || !/it\/s/' > "$OUT/train.log"
status=${PIPESTATUS[0]}
echo "training exit $status after $(( $(date +%s) - start )) s"
tail -5 "$OUT/train.log"
latest=$(cat "$RUN/latest" 2>/dev/null) || { echo "no checkpoint"; exit 1; }
cp "$RUN/$latest.safetensors" "$OUT/default.safetensors"
cp "$RUN/metrics.jsonl" "$OUT/metrics.jsonl"
timeout "${GEN_TIMEOUT:-150}" python3 -m training.generate_eval --model "$OUT/default.safetensors" \
  --items "$PACK_DIR/heldout.npz" --out "$OUT/eval_audio.npz" 2>&1 | tail -5
echo "total $(( $(date +%s) - start )) s"
exit "$status"
