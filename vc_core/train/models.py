"""The trainable networks (torch): a causal content encoder and a causal converter.

Both are stacks of *causal* 1-D convolutions over the vocoder frame grid (22.05 kHz, hop 256,
11.6 ms per frame), so that a stream can run them frame by frame with per-layer caches and get
exactly what a whole utterance gets. A network's look-ahead is a *delay*: its output frame
``t + lookahead`` describes input frame ``t``.

* :class:`ContentEncoder`: vocoder log-mel (B, 80, N) -> content (B, 64, N), trained to predict the
  principal components of Whisper-base encoder states (the teacher sees the whole utterance; the
  student sees the past plus ``lookahead`` frames). Vocal-tract-length warps of its input during
  training make it speaker-blind.
* :class:`Converter`: content (B, 64, N) + target pitch (bin index (B, N) and normalised log-F0,
  voicing) + source energy + speaker d-vector (B, 256) -> log-mel (B, 80, N) for the vocoder.
  The speaker enters every block as a feature-wise affine modulation (FiLM); a small post-net
  sharpens the harmonics.

``step(x, *caches)`` is the streaming form exported to ONNX: it consumes n new frames and the
previous caches and returns n output frames plus the new caches.
"""

from __future__ import annotations

import math
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

# shapes and pitch scales are the runtime's (vc_core.neural.voice), so training and run time agree
from vc_core.neural.voice import (
    CONTENT_DIM,
    F0_HIGH_HZ,
    F0_LOW_HZ,
    LF0_CENTRE,
    LF0_SCALE,
    N_MELS,
    PITCH_BINS,
    SPEAKER_DIM,
)

MEL_SHIFT, MEL_SCALE = 5.0, 3.0  # network input = (log-mel + 5) / 3


class CausalConv(nn.Module):
    """Conv1d that sees only the past (left padding / a cache of ``(k - 1) * dilation`` frames)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel, dilation=dilation)
        self.c_in = c_in
        self.cache_frames = (kernel - 1) * dilation

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.pad(x, (self.cache_frames, 0)))

    def step(self, x: Tensor, cache: Tensor) -> tuple[Tensor, Tensor]:
        if self.cache_frames == 0:
            return self.conv(x), cache
        inp = torch.cat([cache, x], dim=2)
        return self.conv(inp), inp[:, :, -self.cache_frames :]


class FrameNorm(nn.Module):
    """LayerNorm over channels, per frame (no statistics across time, so streaming is exact)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class Block(nn.Module):
    """x + W2 . GELU(FiLM(norm(causal conv(x))))."""

    def __init__(self, channels: int, kernel: int, dilation: int, cond_dim: int = 0) -> None:
        super().__init__()
        self.conv = CausalConv(channels, channels, kernel, dilation)
        self.norm = FrameNorm(channels)
        self.film = nn.Linear(cond_dim, 2 * channels) if cond_dim else None
        self.out = nn.Conv1d(channels, channels, 1)

    def _rest(self, x: Tensor, h: Tensor, cond: Tensor | None) -> Tensor:
        h = self.norm(h)
        if self.film is not None and cond is not None:
            g, b = self.film(cond).unsqueeze(2).chunk(2, dim=1)
            h = h * (1.0 + g) + b
        return x + self.out(F.gelu(h))

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        return self._rest(x, self.conv(x), cond)

    def step(self, x: Tensor, cache: Tensor, cond: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h, cache = self.conv.step(x, cache)
        return self._rest(x, h, cond), cache


class _Stack(nn.Module):
    """Shared streaming plumbing: the list of causal convs in order, and their zero caches."""

    def causal_convs(self) -> list[CausalConv]:
        return [m for m in self.modules() if isinstance(m, CausalConv) and m.cache_frames > 0]

    def zero_caches(self, batch: int = 1) -> list[Tensor]:
        return [torch.zeros(batch, c.c_in, c.cache_frames) for c in self.causal_convs()]

    def _blocks(self) -> list[Block]:
        return [m for m in self.modules() if isinstance(m, Block)]  # in registration order

    @property
    def receptive_field_frames(self) -> int:
        return 1 + sum(c.cache_frames for c in self.causal_convs())


class ContentEncoder(_Stack):
    """``lookahead`` frames of delay: output ``t + lookahead`` describes input frame ``t``.

    The defaults are the shipped model's (2.2 M parameters, 3 frames = 35 ms of look-ahead, a
    receptive field of 0.73 s); ``LEGACY_ENCODER`` is the first release's (0.95 M, 1 frame).
    """

    def __init__(
        self, channels: int = 256, dilations: tuple[int, ...] = (1, 2, 4, 8, 1, 2, 4, 8), lookahead: int = 3
    ) -> None:
        super().__init__()
        self.lookahead_frames = lookahead
        self.config = {"channels": channels, "dilations": list(dilations), "lookahead": lookahead}
        self.inp = CausalConv(N_MELS, channels, 3)
        self.blocks = nn.ModuleList([Block(channels, 3, d) for d in dilations])
        self.out = nn.Conv1d(channels, CONTENT_DIM, 1)

    def forward(self, mel: Tensor) -> Tensor:
        h = self.inp((mel + MEL_SHIFT) / MEL_SCALE)
        for b in self.blocks:
            h = b(h)
        out: Tensor = self.out(h)
        return out

    def step(self, mel: Tensor, *caches: Tensor) -> tuple[Tensor, ...]:
        new: list[Tensor] = []
        h, c = self.inp.step((mel + MEL_SHIFT) / MEL_SCALE, caches[0])
        new.append(c)
        for i, b in enumerate(self._blocks()):
            h, c = b.step(h, caches[1 + i])
            new.append(c)
        return (self.out(h), *new)


LEGACY_ENCODER = {"channels": 192, "dilations": [1, 2, 4, 8, 1, 2], "lookahead": 1}


def phone_head() -> nn.Conv1d:
    """Per-frame linear phone classifier: content (B, 64, N) -> phone logits (B, N_LABELS, N).

    Training only (the phone loss of ``--phone-weight``, the phone error rates of the benchmarks);
    never exported."""
    from vc_core.train.phones import N_LABELS

    return nn.Conv1d(CONTENT_DIM, N_LABELS, 1)


def make_encoder(config: dict[str, object] | None) -> ContentEncoder:
    """The encoder a checkpoint describes (``encoder_config``; absent = the first release's)."""
    c = config or LEGACY_ENCODER
    dil = c["dilations"]
    assert isinstance(dil, list)
    return ContentEncoder(int(str(c["channels"])), tuple(int(d) for d in dil), int(str(c["lookahead"])))


def pitch_features(f0_hz: Tensor) -> tuple[Tensor, Tensor]:
    """f0 (B, N) in Hz, 0 = unvoiced -> (bin index (B, N) int64, continuous (B, 2, N): lf0n, voiced)."""
    voiced = f0_hz > 0
    lf0 = torch.log(torch.clamp(f0_hz, min=1.0))
    pos = (lf0 - math.log(F0_LOW_HZ)) / (math.log(F0_HIGH_HZ) - math.log(F0_LOW_HZ))
    bins = torch.where(voiced, 1 + torch.clamp(torch.round(pos * (PITCH_BINS - 2)), 0, PITCH_BINS - 2), 0).long()
    lf0n = torch.where(voiced, (lf0 - LF0_CENTRE) / LF0_SCALE, torch.zeros_like(lf0))
    return bins, torch.stack([lf0n, voiced.float()], dim=1)


HARMONIC_MAX_HZ = 4000  # above this the mel bands are wider than the harmonic spacing of speech
HARMONICS = 80  # enough for F0 >= 50 Hz up to HARMONIC_MAX_HZ


def sinusoid_mel_response() -> Tensor:
    """(HARMONIC_MAX_HZ + 1, 80): the vocoder mel of a unit sinusoid at 0, 1, 2 ... Hz (Hann 1024)."""
    import numpy as np

    from vc_core.dsp.mel import VOCODER_FMAX_HZ, VOCODER_N_FFT, VOCODER_RATE_HZ, mel_filterbank

    n = np.arange(VOCODER_N_FFT)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / VOCODER_N_FFT)
    freqs = np.arange(HARMONIC_MAX_HZ + 1, dtype=np.float64)
    x = np.cos(2 * np.pi * freqs[:, None] * n[None, :] / VOCODER_RATE_HZ) * window
    mag = np.abs(np.fft.rfft(x, axis=1))
    fb = mel_filterbank(VOCODER_RATE_HZ, VOCODER_N_FFT, N_MELS, 0.0, VOCODER_FMAX_HZ).astype(np.float64)
    return torch.from_numpy((mag @ fb.T).astype(np.float32))


class HarmonicTemplate(nn.Module):
    """F0-aware conditioning: the log-mel an ideal harmonic series at the target F0 would give.

    ``pitch_cont`` (B, 2, N) (normalised log-F0, voiced) -> (B, 80, N): peaks where the harmonics
    fall in the low mel bands (flat envelope, per-frame maximum 0; unvoiced frames are flat). The
    converter adds it, band by band, to its output, so harmonics stay sharp even for low voices.
    """

    response: Tensor  # (HARMONIC_MAX_HZ + 1, 80) buffer
    orders: Tensor  # (HARMONICS,) buffer: 1, 2, 3 ...

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("response", sinusoid_mel_response())
        self.register_buffer("orders", torch.arange(1, HARMONICS + 1, dtype=torch.float32))

    def forward(self, pitch_cont: Tensor) -> Tensor:
        voiced = pitch_cont[:, 1]
        f0 = torch.exp(pitch_cont[:, 0] * LF0_SCALE + LF0_CENTRE) * voiced  # (B, N), 0 when unvoiced
        h = f0.unsqueeze(2) * self.orders  # (B, N, K) harmonic frequencies
        valid = ((h > 0) & (h <= HARMONIC_MAX_HZ)).float().unsqueeze(3)
        idx = torch.clamp(torch.round(h), 0, HARMONIC_MAX_HZ).long()
        mel = (self.response[idx] * valid).sum(dim=2)  # (B, N, 80)
        logmel = torch.log(mel + 1e-2)
        logmel = logmel - logmel.amax(dim=2, keepdim=True)
        return logmel.transpose(1, 2)


class Converter(_Stack):
    lookahead_frames = 1

    def __init__(
        self,
        channels: int = 256,
        dilations: tuple[int, ...] = (1, 2, 4, 8, 1, 2, 4, 8),
        pitch_dim: int = 32,
        postnet_channels: int = 192,
    ) -> None:
        super().__init__()
        self.pitch_emb = nn.Embedding(PITCH_BINS, pitch_dim)
        self.harmonics = HarmonicTemplate()
        self.harmonic_gain = nn.Parameter(torch.zeros(N_MELS, 1))  # per band; learned from 0
        self.inp = CausalConv(CONTENT_DIM + pitch_dim + 3 + N_MELS, channels, 3)
        self.blocks = nn.ModuleList([Block(channels, 3, d, SPEAKER_DIM) for d in dilations])
        self.out = nn.Conv1d(channels, N_MELS, 1)
        self.post = nn.ModuleList(
            [
                CausalConv(N_MELS, postnet_channels, 5),
                CausalConv(postnet_channels, postnet_channels, 5),
                CausalConv(postnet_channels, N_MELS, 5),
            ]
        )

    def _input(self, content: Tensor, pitch_bin: Tensor, pitch_cont: Tensor, energy: Tensor) -> tuple[Tensor, Tensor]:
        """(network input, harmonic template)."""
        template = self.harmonics(pitch_cont)
        x = torch.cat([content, self.pitch_emb(pitch_bin).transpose(1, 2), pitch_cont, energy, template / 4.0], dim=1)
        return x, template

    def forward(
        self, content: Tensor, pitch_bin: Tensor, pitch_cont: Tensor, energy: Tensor, speaker: Tensor
    ) -> tuple[Tensor, Tensor]:
        """-> (mel before the post-net, mel after), both (B, 80, N) in the vocoder's log-mel units."""
        x, template = self._input(content, pitch_bin, pitch_cont, energy)
        h = self.inp(x)
        for b in self.blocks:
            h = b(h, speaker)
        coarse = self.out(h) * MEL_SCALE - MEL_SHIFT + self.harmonic_gain * template
        p = coarse
        for i, conv in enumerate(self.post):
            p = conv(p)
            if i < len(self.post) - 1:
                p = torch.tanh(p)
        return coarse, coarse + p

    def step(
        self, content: Tensor, pitch_bin: Tensor, pitch_cont: Tensor, energy: Tensor, speaker: Tensor, *caches: Tensor
    ) -> tuple[Tensor, ...]:
        new: list[Tensor] = []
        x, template = self._input(content, pitch_bin, pitch_cont, energy)
        h, c = self.inp.step(x, caches[0])
        new.append(c)
        k = 1
        for b in self._blocks():
            h, c = b.step(h, caches[k], speaker)
            new.append(c)
            k += 1
        coarse = self.out(h) * MEL_SCALE - MEL_SHIFT + self.harmonic_gain * template
        p = coarse
        for i, conv in enumerate(cast(list[CausalConv], list(self.post))):
            p, c = conv.step(p, caches[k])
            new.append(c)
            k += 1
            if i < len(self.post) - 1:
                p = torch.tanh(p)
        return (coarse + p, *new)


def energy_of(mel: Tensor) -> Tensor:
    """Source loudness per frame from its log-mel (B, 80, N) -> (B, 1, N), roughly zero-centred."""
    return (mel.mean(dim=1, keepdim=True) + 6.0) / 2.0


def warp_mel(mel: Tensor, ratio: Tensor) -> Tensor:
    """Vocal-tract-length perturbation on the mel axis: bin j reads bin j / ratio (B,) (linear interp)."""
    b, n_mels, n = mel.shape
    j = torch.arange(n_mels, dtype=mel.dtype).unsqueeze(0) / ratio.unsqueeze(1)  # (B, 80)
    j = torch.clamp(j, 0, n_mels - 1)
    lo = torch.floor(j).long()
    hi = torch.clamp(lo + 1, max=n_mels - 1)
    w = (j - lo.to(mel.dtype)).unsqueeze(2)
    g_lo = torch.gather(mel, 1, lo.unsqueeze(2).expand(b, n_mels, n))
    g_hi = torch.gather(mel, 1, hi.unsqueeze(2).expand(b, n_mels, n))
    return g_lo * (1 - w) + g_hi * w


LOG_FLOOR = math.log(1e-5)  # the vocoder mel's floor (natural log of magnitude)
HOP_S = 256 / 22050


def simulate_recording(mels: tuple[Tensor, ...], rng: np.random.Generator) -> tuple[Tensor, ...]:
    """Make clean synthetic log-mels (B, 80, N) look like real microphone speech.

    Each example gets, drawn once and applied alike to every tensor in ``mels`` (e.g. a clip and
    its vocal-tract-warped copy): a smooth random EQ (tilt plus three cosines, up to about
    +-9 dB; p 0.8), a low-pass like a compressed recording's (p 0.3), room reverberation with
    RT60 0.15-0.6 s (p 0.3) and coloured, fluctuating noise 10-40 dB under the speech (p 0.7).
    Real clips differ from the synthetic corpus this way: a noise floor about 8 dB higher, more
    bass, and the top 1 kHz rolled off.
    """
    b, n_mels, n = mels[0].shape
    x = torch.linspace(0.0, 1.0, n_mels)
    eq = torch.zeros(b, n_mels, 1)
    lowpass = torch.zeros(b, n_mels, 1)
    reverb: list[tuple[float, float] | None] = []
    noise = torch.full((b, n_mels, n), -float("inf"))
    speech_level = torch.quantile(mels[0].mean(dim=1), 0.9, dim=1)  # (B,) loud-frame level
    for i in range(b):
        if rng.random() < 0.8:
            a = rng.uniform(-0.3, 0.3, 3)
            curve = sum(float(a[k]) * torch.cos(math.pi * (k + 1) * x) for k in range(3))
            eq[i, :, 0] = curve + float(rng.uniform(-1.0, 1.0)) * (x - 0.5)
        if rng.random() < 0.3:
            cut = float(rng.uniform(50, 78))
            lowpass[i, :, 0] = -torch.clamp(torch.arange(n_mels) - cut, min=0) * float(rng.uniform(0.2, 0.6))
        reverb.append((float(rng.uniform(0.15, 0.6)), float(rng.uniform(0.1, 0.5))) if rng.random() < 0.3 else None)
        if rng.random() < 0.7:
            snr_nat = float(rng.uniform(10, 40)) / 20 * math.log(10)
            colour = float(rng.uniform(-1.5, 1.0)) * (x - 0.5)
            fluct = torch.from_numpy(rng.normal(0.0, 0.6, (n_mels, n)).astype(np.float32))
            noise[i] = speech_level[i] - snr_nat + colour[:, None] + fluct
    out = []
    for mel in mels:
        y = mel + eq + lowpass
        rooms = []
        for i, room in enumerate(reverb):
            if room is None:
                rooms.append(y[i])
                continue
            rt60, wet = room
            k = torch.arange(1, 49, dtype=torch.float32)
            tail = 10 ** (-6 * HOP_S * k / rt60)  # power decay per frame
            tail = wet * tail / tail.sum()
            power = torch.exp(2 * y[i])  # (80, N)
            echo = F.conv1d(F.pad(power[:, None], (48, 0)), tail.flip(0).view(1, 1, -1))[:, 0, :-1]
            rooms.append(0.5 * torch.log(power + echo))
        y = torch.stack(rooms)
        y = 0.5 * torch.logaddexp(2 * y, 2 * noise)
        out.append(torch.clamp(y, min=LOG_FLOOR))
    return tuple(out)
