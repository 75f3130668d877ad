#!/usr/bin/env bash
# One GPU relay (issue 14): continue the committed universal vocoder
# (training/relay_weights/vocoder.safetensors) and, with configs/relay.toml, the corpus v2 acoustic
# model beside it, for at most the config's max_minutes; weights and metrics land in $OUT.
# Carried in (made by `python -m training.relay prepare`): relay/train.npz (the packed corpus),
# relay/init.safetensors (the acoustic model to continue), and .whl/ (soundfile, cffi,
# pycparser wheels for the machine's Python, used only when soundfile is missing).
#   bash training/device_train.sh                                  # acoustic + vocoder
#   CONFIG=configs/relay_vocoder.toml bash training/device_train.sh   # the vocoder alone
# Back here: `python -m training.relay land <folder with $OUT's files>`.
set -uo pipefail
CONFIG=${CONFIG:-configs/relay.toml}
OUT=${OUT:-/tmp/out}
RUN=${RUN:-/tmp/voiceadapt-relay}
# a hard stop past the config's own budget, inside the device call's limit: on SIGTERM the
# trainer saves, so the weights still reach $OUT
TRAIN_TIMEOUT=${TRAIN_TIMEOUT:-540}
mkdir -p "$OUT"
rm -rf "$RUN"  # every relay starts from the committed weights, never from a stale run
if ! python3 -c "import soundfile" 2>/dev/null && [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONUNBUFFERED=1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv
start=$(date +%s)
timeout --signal=TERM --kill-after=30 "$TRAIN_TIMEOUT" \
  python3 -m training.train --config "$CONFIG" --run-dir "$RUN" 2>&1 \
  | tr '\r' '\n' | awk 'NR % 50 == 1 || !/it\/s/' > "$OUT/train.log"
status=${PIPESTATUS[0]}
echo "training exit $status after $(( $(date +%s) - start )) s"
tail -5 "$OUT/train.log"
latest=$(cat "$RUN/latest" 2>/dev/null) || { echo "no checkpoint"; exit 1; }
cp "$RUN/$latest.safetensors" "$OUT/backbone.safetensors"
cp "$RUN/$latest.vocoder.safetensors" "$OUT/vocoder.safetensors" 2>/dev/null \
  || echo "no vocoder file: the config's WaveNet is not universal"
cp "$RUN/config.toml" "$OUT/"
cp "$RUN/metrics.jsonl" "$OUT/" 2>/dev/null || echo "no metrics: stopped before the first logged step"
echo "total $(( $(date +%s) - start )) s"
exit "$status"
