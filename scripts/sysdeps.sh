#!/bin/sh
# Debian packages the test suite needs: speech synthesis, real speech (pocketsphinx-testdata,
# the Asterisk prompts), PortAudio, PipeWire,
# and the libraries Qt loads for the offscreen GUI tests.
# Installs what is missing when run as root; otherwise prints the apt-get line to run.
# `sysdeps.sh --train` adds the festival voices the training corpus is synthesised with, and the packages
# of real recorded speech the real-time base trains on (tuxpaint stamps, Asterisk French prompts).
set -eu
TRAIN_PKGS="festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts tuxpaint-stamps-default asterisk-prompt-fr-armelle"
PKGS="espeak-ng sox libsndfile1 libportaudio2 libasound2-plugins pocketsphinx-testdata \
asterisk-core-sounds-en asterisk-core-sounds-en-g722 \
pipewire pipewire-pulse wireplumber dbus-daemon pulseaudio-utils \
libegl1 libgl1 libfontconfig1 libxkbcommon0 libglib2.0-0 libdbus-1-3 fonts-dejavu-core"
[ "${1:-}" = "--train" ] && PKGS="$PKGS $TRAIN_PKGS"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
    echo "installing:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
    echo "missing system packages:$missing" >&2
    echo "run: sudo apt-get install$missing" >&2
    exit 1
fi
