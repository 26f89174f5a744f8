"""Train the content encoder and the converter on precomputed features (resumable, seeded).

Two phases in one run, both on random 2.2 s segments of the training utterances (features from
:mod:`vc_core.train.dataset`; held-out sentences are only used for validation):

1. **content** - :class:`ContentEncoder` learns the top principal components of Whisper-base
   states from a vocal-tract-warped, gain-jittered log-mel (so its output carries the words and
   not the vocal tract). ``--simulate-recording`` adds random recording conditions (EQ, low-pass,
   reverberation, noise: :func:`~vc_core.train.models.simulate_recording`) to its input, the
   teacher hearing the clean clip; the shipped models are trained without them
   (docs/research/voice-models.md §7: cleaner output, but more words lost). ``--phone-weight`` trains it
   on whole utterances and adds a CTC loss on their phones (:mod:`vc_core.train.phones`)
   through a linear classifier that is not exported; ``--tempo`` and ``--freq-masks`` vary the
   speaking rate and hide mel bands. All three are off in the shipped recipe (§8: no better).
2. **converter** - with the encoder frozen, :class:`Converter` learns to rebuild the utterance's
   own log-mel from the encoder's content, the utterance's F0 and energy, and its speaker's
   d-vector (the speaker mean half of the time, the utterance's own the other half, so that a
   d-vector from a new clip also works). With ``--simulate-recording`` its content and energy
   inputs come from the simulated recording, its target stays the clean log-mel. Loss: L1 before
   and after the post-net plus L1 of the time and frequency differences (keeps harmonics and
   onsets sharp).

Checkpoints go to ``<work>/checkpoint.pt`` every ``--checkpoint-s`` seconds (atomic rename) and
a run resumes from there; ``<work>/summary.json`` is written at the end.

CLI: ``python -m vc_core.train.train --features .cache/features --work .cache/train``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import Tensor

from vc_core.neural.voice import CONTENT_DIM
from vc_core.train.dataset import INDEX, cast_window, windowed_dir
from vc_core.train.models import (
    LEGACY_ENCODER,
    ContentEncoder,
    Converter,
    energy_of,
    make_encoder,
    phone_head,
    pitch_features,
    simulate_recording,
    warp_mel,
)
from vc_core.train.phones import BLANK, best_path_errors, phone_ids

log = logging.getLogger(__name__)

F32 = NDArray[np.float32]
CHECKPOINT = "checkpoint.pt"
SUMMARY = "summary.json"


@dataclass(frozen=True)
class TrainConfig:
    content_steps: int = 5000
    converter_steps: int = 5000
    batch: int = 16
    segment_frames: int = 192  # 2.2 s
    warmup_frames: int = 32  # context before the scored frames (the nets are causal)
    lr: float = 2e-3
    warp_range: tuple[float, float] = (0.84, 1.19)
    gain_range_db: float = 8.0
    seed: int = 1234
    threads: int = 1  # 2 are 1.5-2x faster on idle cores (make train), far slower when other jobs share them
    checkpoint_s: float = 120.0
    validate_every: int = 250
    encoder_channels: int = 256
    encoder_dilations: tuple[int, ...] = (1, 2, 4, 8, 1, 2, 4, 8)
    encoder_lookahead: int = 3  # frames (35 ms)
    simulate_recording: bool = False  # EQ, low-pass, reverb and noise on the inputs (models.simulate_recording)
    phone_weight: float = 0.0  # > 0: content phase on whole utterances, MSE + this x CTC loss on phones
    max_utterance_frames: int = 640  # longer utterances are left out of whole-utterance batches (7.4 s)
    tempo_range: tuple[float, float] = (1.0, 1.0)  # speaking-rate factors drawn per example (time-stretched)
    freq_masks: int = 0  # up to this many bands of <= 10 mel bins hidden from the content encoder per example
    # "encoder": the converter reads the trained content encoder; "whisper": it reads the streamed
    # Whisper states themselves (16 kHz window, hop, look-ahead; vc_core.neural.whisper), no encoder
    content: str = "encoder"
    whisper_window: tuple[int, int, int] = (64000, 640, 640)  # what the bundle streams live
    # hop of the training states (16 kHz samples), a multiple of the live hop. Twice the live hop
    # halves the encodes; half the states then see 40 ms more look-ahead than live (docs §12)
    states_hop: int = 1280

    def states_window(self) -> tuple[int, int, int]:
        """(window, hop, look-ahead) of the streamed states the converter trains on."""
        w, h, la = self.whisper_window
        if self.states_hop <= 0 or self.states_hop % h:
            raise ValueError(f"states hop {self.states_hop}: want a positive multiple of the live hop {h}")
        return w, self.states_hop, la

    def encoder_config(self) -> dict[str, object]:
        return {
            "channels": self.encoder_channels,
            "dilations": list(self.encoder_dilations),
            "lookahead": self.encoder_lookahead,
        }


@dataclass
class Utt:
    id: str
    speaker: str
    mel: F32  # (N, 80)
    teacher: F32  # (N, 64) Whisper principal components
    f0: F32  # (N,)
    dvector: F32  # (256,)
    held_out: bool
    phones: list[int] = field(default_factory=list)  # CTC labels of its text (vc_core.train.phones)


def fit_pca(states: list[F32], dims: int, seed: int) -> tuple[F32, F32, float]:
    """(mean (512,), components (dims, 512), scale) from a random sample of frames."""
    rng = np.random.default_rng(seed)
    x = np.concatenate(states).astype(np.float64)
    x = x[rng.choice(len(x), size=min(len(x), 60000), replace=False)]
    mean = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    comp = vt[:dims]
    scale = float(np.std((x - mean) @ comp.T))
    return mean.astype(np.float32), comp.astype(np.float32), scale


def load_features(
    features: Path | list[Path],
    seed: int,
    pca: tuple[F32, F32, float] | None = None,
    phones: bool = False,
    states: Path | None = None,
) -> tuple[list[Utt], dict[str, Any]]:
    """Utterances with teacher states projected on ``pca`` (mean, components, scale); fitted when None.

    ``phones``: also transcribe each utterance's ``text`` into phone labels (for the CTC loss).
    ``states``: a folder of streamed Whisper states (``dataset --windowed``) to use instead of the
    whole-utterance ones. Several ``features`` folders (e.g. the synthetic corpus and real speech)
    are read as one set.
    """
    raw = []
    for folder in features if isinstance(features, list) else [features]:
        index = json.loads((folder / INDEX).read_text(encoding="utf-8"))
        for item in index["utterances"]:
            d = np.load(folder / f"{item['id']}.npz")
            whisper = d["whisper"] if states is None else np.load(states / f"{item['id']}.npy")
            raw.append((item, d["mel"].astype(np.float32), whisper, d["f0_hz"], d["dvector"]))
    if pca is None:
        pca = fit_pca([w for it, _, w, _, _ in raw if not it["held_out"]], CONTENT_DIM, seed)
    mean, comp, scale = pca
    utts = [
        Utt(
            it["id"],
            it["speaker"],
            mel,
            ((w.astype(np.float32) - mean) @ comp.T / scale).astype(np.float32),
            f0.astype(np.float32),
            dv.astype(np.float32),
            bool(it["held_out"]),
            phone_ids(it.get("text", "")) if phones else [],
        )
        for it, mel, w, f0, dv in raw
    ]
    if phones and not all(u.phones for u in utts):
        missing = next(u.id for u in utts if not u.phones)
        raise ValueError(f"utterance {missing} of {features} has no text to transcribe into phones")
    speakers: dict[str, list[F32]] = {}
    for u in utts:
        if not u.held_out:
            speakers.setdefault(u.speaker, []).append(u.dvector)
    means = {k: _unit(np.mean(v, axis=0)) for k, v in speakers.items()}
    extra = {"pca_mean": mean, "pca_components": comp, "pca_scale": scale, "speaker_dvectors": means}
    return utts, extra


def _unit(v: F32) -> F32:
    out: F32 = (v / (np.linalg.norm(v) + 1e-9)).astype(np.float32)
    return out


class Batches:
    """Random training examples of a set of utterances, as tensors.

    :meth:`draw`: segments of ``warmup + segment + lookahead`` frames (the extra frames pay the
    look-ahead). :meth:`draw_utterances`: whole utterances after 0 .. ``warmup`` frames of silence,
    padded to the longest, with their phone labels (for the CTC loss).
    """

    def __init__(self, utts: list[Utt], cfg: TrainConfig, speaker_dvectors: dict[str, F32], seed: int) -> None:
        self.utts = [u for u in utts if len(u.mel) > 8]
        self.cfg = cfg
        self.frames = cfg.warmup_frames + cfg.segment_frames + cfg.encoder_lookahead
        self.spk = speaker_dvectors
        self.rng = np.random.default_rng(seed)
        w = np.array([len(u.mel) for u in self.utts], dtype=np.float64)
        self.p = w / w.sum()
        self.whole = [u for u in self.utts if u.phones and len(u.mel) <= cfg.max_utterance_frames]

    def draw(self) -> dict[str, Tensor]:
        n, rng = self.frames, self.rng
        picks = []
        for _ in range(self.cfg.batch):
            u = self._tempo(self.utts[int(rng.choice(len(self.utts), p=self.p))])
            start = int(rng.integers(-self.cfg.warmup_frames, max(1, len(u.mel) - n // 2)))
            picks.append((u, start, bool(rng.random() < 0.5)))
        return self._assemble(picks, n)

    def draw_utterances(self) -> dict[str, Tensor]:
        if not self.whole:
            raise ValueError("no utterance has phone labels and at most max_utterance_frames frames")
        rng = self.rng
        utts = [self._tempo(self.whole[int(k)]) for k in rng.choice(len(self.whole), size=self.cfg.batch)]
        lead = rng.integers(0, self.cfg.warmup_frames + 1, size=len(utts))
        lengths = [int(k) + len(u.mel) for k, u in zip(lead, utts, strict=True)]  # silence + utterance
        n = max(lengths) + self.cfg.encoder_lookahead
        out = self._assemble([(u, -int(k), bool(rng.random() < 0.5)) for u, k in zip(utts, lead, strict=True)], n)
        out["phones"] = torch.tensor([p for u in utts for p in u.phones], dtype=torch.long)
        out["phone_lengths"] = torch.tensor([len(u.phones) for u in utts], dtype=torch.long)
        out["frame_lengths"] = torch.tensor(lengths, dtype=torch.long)
        return out

    def _tempo(self, u: Utt) -> Utt:
        """``u`` spoken faster or slower by a factor from ``cfg.tempo_range`` (frames resampled; pitch kept)."""
        lo, hi = self.cfg.tempo_range
        if lo == hi == 1.0:
            return u
        rate = float(np.exp(self.rng.uniform(math.log(lo), math.log(hi))))
        src = np.arange(0.0, len(u.mel) - 1, rate)
        i = np.floor(src).astype(int)
        w = (src - i)[:, None].astype(np.float32)

        def interp(x: F32) -> F32:
            out: F32 = (x[i] * (1 - w) + x[i + 1] * w).astype(np.float32)
            return out

        f0 = u.f0[np.round(src).astype(int)]  # nearest: voicing stays a 0 / non-0 decision
        return replace(u, mel=interp(u.mel), teacher=interp(u.teacher), f0=f0)

    def _assemble(self, picks: list[tuple[Utt, int, bool]], n: int) -> dict[str, Tensor]:
        """Examples of ``n`` frames: (utterance, its first frame (negative = silence first), whether
        to condition on its speaker's mean d-vector rather than its own)."""
        cfg, rng = self.cfg, self.rng
        b_n = len(picks)
        mel = np.full((b_n, n, 80), math.log(1e-5), np.float32)
        teacher = np.zeros((b_n, n, CONTENT_DIM), np.float32)
        f0 = np.zeros((b_n, n), np.float32)
        spk = np.zeros((b_n, 256), np.float32)
        mask = np.zeros((b_n, n), np.float32)
        for b, (u, start, speaker_mean) in enumerate(picks):
            lo, hi = max(0, start), min(len(u.mel), start + n)
            dst = lo - start
            mel[b, dst : dst + hi - lo] = u.mel[lo:hi]
            teacher[b, dst : dst + hi - lo] = u.teacher[lo:hi]
            f0[b, dst : dst + hi - lo] = u.f0[lo:hi]
            mask[b, dst : dst + hi - lo] = 1.0
            spk[b] = self.spk.get(u.speaker, u.dvector) if speaker_mean else u.dvector
        gain = rng.uniform(-1, 1, (b_n, 1, 1)) * cfg.gain_range_db / 20.0 * math.log(10.0)
        mel_t = torch.from_numpy(mel).transpose(1, 2) + torch.from_numpy(gain.astype(np.float32))
        mel_t = torch.clamp(mel_t, min=math.log(1e-5))
        warp = np.exp(rng.uniform(math.log(cfg.warp_range[0]), math.log(cfg.warp_range[1]), b_n))
        warped = warp_mel(mel_t, torch.from_numpy(warp.astype(np.float32)))
        if cfg.freq_masks:  # hidden bands read as the example's mean level: the encoder must not rely on any one
            warped = warped.clone()
            for b in range(b_n):
                for _ in range(int(rng.integers(0, cfg.freq_masks + 1))):
                    width = int(rng.integers(1, 11))
                    lo_band = int(rng.integers(0, 80 - width))
                    warped[b, lo_band : lo_band + width] = warped[b].mean()
        heard, warped = simulate_recording((mel_t, warped), rng) if cfg.simulate_recording else (mel_t, warped)
        return {
            "mel": mel_t,  # clean: the converter's target
            "heard": heard,  # as a microphone would give it: the source of the energy input
            "warped": warped,  # warped and recorded: the content encoder's input
            "teacher": torch.from_numpy(teacher).transpose(1, 2),
            "f0": torch.from_numpy(f0),
            "speaker": torch.from_numpy(spk),
            "mask": torch.from_numpy(mask),
        }


def content_loss(
    enc: ContentEncoder,
    batch: dict[str, Tensor],
    warmup: int,
    head: torch.nn.Module | None = None,
    phone_weight: float = 0.0,
    with_per: bool = False,
) -> tuple[Tensor, dict[str, float]]:
    """(loss, its parts): MSE to the teacher, plus ``phone_weight`` x CTC of ``head``'s phone
    posteriors when the batch has phone labels (:meth:`Batches.draw_utterances`); ``with_per``
    adds the phone error rate to the parts."""
    la = enc.lookahead_frames
    out = enc(batch["warped"])[:, :, la:]  # output t + la describes frame t
    tgt = batch["teacher"][:, :, :-la]
    m = batch["mask"][:, None, :-la]
    m = m[:, :, warmup:]
    mse = (((out - tgt)[:, :, warmup:] ** 2) * m).sum() / (m.sum() * CONTENT_DIM + 1e-9)
    if head is None or "phones" not in batch:
        return mse, {"mse": float(mse.detach())}
    logp = F.log_softmax(head(out), dim=1)  # (B, labels, N)
    ctc = F.ctc_loss(
        logp.permute(2, 0, 1),
        batch["phones"],
        batch["frame_lengths"],
        batch["phone_lengths"],
        blank=BLANK,
        zero_infinity=True,
    )
    parts = {"mse": float(mse.detach()), "ctc": float(ctc.detach())}
    if with_per:
        parts["per"] = phone_error_rate(logp, batch)
    return mse + phone_weight * ctc, parts


def phone_error_rate(logp: Tensor, batch: dict[str, Tensor]) -> float:
    """Best-path phone error rate of per-frame phone log-posteriors (B, labels, N) against the batch's labels."""
    best = logp.argmax(dim=1)
    errors = total = 0
    offset = 0
    for b, (n, k) in enumerate(zip(batch["frame_lengths"].tolist(), batch["phone_lengths"].tolist(), strict=True)):
        ref = batch["phones"][offset : offset + k].tolist()
        offset += k
        errors += best_path_errors(best[b, :n].tolist(), ref)
        total += k
    return errors / max(total, 1)


def converter_loss(
    enc: ContentEncoder, conv: Converter, batch: dict[str, Tensor], warmup: int, from_teacher: bool = False
) -> Tensor:
    """Multi-part L1 of the converter's mel; ``from_teacher``: its content is the teacher's (streamed
    Whisper) states as they are, else the content encoder's output."""
    la = enc.lookahead_frames
    if from_teacher:  # already what a stream gives for frame t: no look-ahead to remove
        content = batch["teacher"][:, :, :-la]
    else:
        with torch.no_grad():
            content = enc(batch["warped"])[:, :, la:]  # (B, 64, n - la) aligned with frames 0 .. n - la - 1
    mel = batch["mel"][:, :, :-la]
    bins, cont = pitch_features(batch["f0"][:, :-la])
    coarse, fine = conv(content, bins, cont, energy_of(batch["heard"][:, :, :-la]), batch["speaker"])
    # converter output t + 1 describes frame t: score frames warmup .. n - la - 2
    tgt = mel[:, :, warmup:-1]
    m = batch["mask"][:, None, warmup : mel.shape[2] - 1]
    c, f = coarse[:, :, warmup + 1 :], fine[:, :, warmup + 1 :]
    denom = m.sum() * 80 + 1e-9
    l1 = ((c - tgt).abs() * m).sum() / denom + ((f - tgt).abs() * m).sum() / denom
    dt = ((torch.diff(f, dim=2) - torch.diff(tgt, dim=2)).abs() * m[:, :, 1:]).sum() / denom
    df = ((torch.diff(f, dim=1) - torch.diff(tgt, dim=1)).abs() * m).sum() / denom
    return l1 + 0.5 * dt + 0.5 * df


def load_compatible(net: torch.nn.Module, saved: dict[str, Tensor]) -> bool:
    """Load ``saved`` into ``net``; parameters that grew input channels keep the old ones and start
    the new ones at zero, new parameters keep their initial values. Returns True if all matched."""
    own = net.state_dict()
    exact = True
    for name, value in saved.items():
        if name not in own:
            exact = False
            continue
        target = own[name]
        if target.shape == value.shape:
            target.copy_(value)
        elif (
            target.dim() == value.dim() == 3 and target.shape[0] == value.shape[0] and target.shape[2] == value.shape[2]
        ):
            target.zero_()
            target[:, : value.shape[1]] = value
            exact = False
        else:
            raise ValueError(f"checkpoint parameter {name}: shape {tuple(value.shape)} vs {tuple(target.shape)}")
    return exact and set(own) == set(saved)


def _cosine(steps: int) -> Callable[[int], float]:
    """Learning-rate factor: half a cosine from 1 at step 0 to 0 at ``steps``."""

    def factor(step: int) -> float:
        return 0.5 * (1 + math.cos(math.pi * min(step, steps) / steps))

    return factor


def _save(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_suffix(".part")
    torch.save(state, tmp)
    tmp.replace(path)


def train(
    features: Path | list[Path],
    work: Path,
    cfg: TrainConfig,
    progress: bool = True,
    stop_after: str | None = None,
    init_from: Path | None = None,
) -> dict[str, Any]:
    """Train (or resume) in ``work``.

    ``init_from``: an earlier run's checkpoint. A fresh run then keeps its teacher projection
    (PCA), so its converter is a meaningful warm start, and starts the converter from it; the
    content encoder is trained anew with ``cfg``'s shape.
    """
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    work.mkdir(parents=True, exist_ok=True)
    ck = work / CHECKPOINT
    saved = torch.load(ck, weights_only=False) if ck.exists() else None
    init = torch.load(init_from, weights_only=False) if init_from is not None and saved is None else None
    # a run keeps the teacher projection it started with: its own checkpoint's when resuming
    origin = saved if saved is not None else init
    pca = (origin["pca_mean"], origin["pca_components"], float(origin["pca_scale"])) if origin is not None else None
    if cfg.content not in ("encoder", "whisper"):
        raise ValueError(f"content {cfg.content!r}: want 'encoder' or 'whisper'")
    from_teacher = cfg.content == "whisper"
    folders = features if isinstance(features, list) else [features]
    if from_teacher and len(folders) != 1:
        raise ValueError("--content whisper reads the streamed states of one features folder")
    states = windowed_dir(folders[0], *cfg.states_window()) if from_teacher else None
    if states is not None and not states.is_dir():
        w, h, la = cfg.states_window()
        raise ValueError(
            f"{states}: no streamed Whisper states; first run "
            f"python -m vc_core.train.dataset --out {folders[0]} --windowed {w},{h},{la}"
        )
    t_load = time.perf_counter()
    utts, extra = load_features(features, cfg.seed, pca, phones=cfg.phone_weight > 0, states=states)
    log.info("loaded %d utterances in %.0f s", len(utts), time.perf_counter() - t_load)
    train_utts = [u for u in utts if not u.held_out]
    val_utts = [u for u in utts if u.held_out]
    enc: ContentEncoder = make_encoder(cfg.encoder_config())
    conv = Converter()
    if init is not None:
        load_compatible(conv, init["converter"])
        log.info("converter warm-started from %s", init_from)
    head = phone_head() if cfg.phone_weight > 0 else None  # the CTC loss's classifier, not exported
    content_params = [*enc.parameters(), *(head.parameters() if head is not None else [])]
    opt_e = torch.optim.AdamW(content_params, lr=cfg.lr, weight_decay=1e-4)
    opt_c = torch.optim.AdamW(conv.parameters(), lr=cfg.lr, weight_decay=1e-4)
    state: dict[str, Any] = {"phase": "content", "step": 0, "history": [], "seconds": 0.0}
    if saved is not None:
        was = saved.get("encoder_config", LEGACY_ENCODER)
        if was != enc.config:
            raise ValueError(f"{ck}: encoder {was} differs from {enc.config}; use another --work")
        saved_weight = saved.get("config", {}).get("phone_weight", 0.0)
        if saved_weight != cfg.phone_weight:
            raise ValueError(f"{ck}: phone weight {saved_weight} differs from {cfg.phone_weight}; use another --work")
        enc.load_state_dict(saved["encoder"])
        if head is not None:
            head.load_state_dict(saved["phone_head"])
        opt_e.load_state_dict(saved["opt_encoder"])
        if load_compatible(conv, saved["converter"]):
            opt_c.load_state_dict(saved["opt_converter"])
        else:
            log.warning("converter architecture grew since the checkpoint: warm start, fresh optimiser state")
        state = saved["state"]
        torch.set_rng_state(saved["torch_rng"])
        log.info("resumed at %s step %d", state["phase"], state["step"])
    resume_seed = cfg.seed + state["step"] + 100_000 * (state["phase"] == "converter")
    data = Batches(train_utts, cfg, extra["speaker_dvectors"], resume_seed)
    val = Batches(val_utts, cfg, extra["speaker_dvectors"], cfg.seed + 7)
    val_batches = [val.draw() for _ in range(4)]
    val_utterances = [val.draw_utterances() for _ in range(4)] if head is not None else []

    def checkpoint() -> None:
        _save(
            ck,
            {
                "encoder": enc.state_dict(),
                "converter": conv.state_dict(),
                "opt_encoder": opt_e.state_dict(),
                "opt_converter": opt_c.state_dict(),
                "state": state,
                "torch_rng": torch.get_rng_state(),
                "config": asdict(cfg),
                "encoder_config": enc.config,
                **({"phone_head": head.state_dict()} if head is not None else {}),
                **extra,
            },
        )

    done_phases = {"content": ("converter", "done"), "converter": ("done",)}
    for phase, steps in (("content", cfg.content_steps), ("converter", cfg.converter_steps)):
        if state["phase"] in done_phases[phase]:
            continue
        if phase == "content" and from_teacher:  # nothing to train: the converter reads Whisper itself
            continue
        if state["phase"] != phase:
            state["phase"], state["step"] = phase, 0
        opt = opt_e if phase == "content" else opt_c
        net = enc if phase == "content" else conv
        enc.train(phase == "content")
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _cosine(steps))
        for _ in range(state["step"]):
            sched.step()
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=steps, initial=state["step"], desc=phase, unit="step")
        last_ck = time.perf_counter()
        t_phase = time.perf_counter()
        whole = phase == "content" and head is not None  # whole utterances: the CTC loss needs their text
        while state["step"] < steps:
            batch = data.draw_utterances() if whole else data.draw()
            net.train()
            if phase == "content":
                loss, parts = content_loss(enc, batch, 0 if whole else cfg.warmup_frames, head, cfg.phone_weight)
            else:
                loss = converter_loss(enc, conv, batch, cfg.warmup_frames, from_teacher)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(content_params if phase == "content" else conv.parameters(), 1.0)
            opt.step()
            sched.step()
            state["step"] += 1
            if bar is not None:
                bar.set_postfix(loss=f"{loss.item():.4f}")
                bar.update(1)
            if state["step"] % cfg.validate_every == 0 or state["step"] == steps:
                net.eval()
                row = {"phase": phase, "step": state["step"], "train_loss": float(loss.detach())}
                if phase == "content" and head is not None:
                    row["train_ctc"] = parts["ctc"]
                w = cfg.warmup_frames
                with torch.no_grad():
                    if phase == "content":  # val_loss: the teacher MSE on segments, as without phones
                        row["val_loss"] = float(np.mean([content_loss(enc, b, w)[0] for b in val_batches]))
                        val_parts = [
                            content_loss(enc, b, 0, head, cfg.phone_weight, with_per=True)[1] for b in val_utterances
                        ]
                        for key in ("ctc", "per"):
                            if val_parts:
                                row[f"val_{key}"] = float(np.mean([vp[key] for vp in val_parts]))
                    else:
                        row["val_loss"] = float(
                            np.mean([converter_loss(enc, conv, b, w, from_teacher) for b in val_batches])
                        )
                state["history"].append(row)
                log.info(
                    "%s", ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())
                )
            now = time.perf_counter()
            if now - last_ck > cfg.checkpoint_s:
                state["seconds"] += now - t_phase
                t_phase = now
                checkpoint()
                last_ck = now
        state["seconds"] += time.perf_counter() - t_phase
        if bar is not None:
            bar.close()
        checkpoint()
        if phase == stop_after:
            return {"stopped_after": phase, "history": state["history"], "train_seconds": state["seconds"]}
    state["phase"] = "done"
    checkpoint()
    summary = {
        "config": asdict(cfg),
        "train_utterances": len(train_utts),
        "val_utterances": len(val_utts),
        "speakers": len(extra["speaker_dvectors"]),
        "encoder_params": sum(p.numel() for p in enc.parameters()),
        "converter_params": sum(p.numel() for p in conv.parameters()),
        "train_seconds": round(state["seconds"], 1),
        "history": state["history"],
    }
    tmp = work / (SUMMARY + ".part")
    tmp.write_text(json.dumps(summary, indent=1), encoding="utf-8")
    tmp.replace(work / SUMMARY)
    return summary


def cast_range(text: str) -> tuple[float, float]:
    lo, hi = (float(v) for v in text.split(","))
    if not 0.5 <= lo <= hi <= 2.0:
        raise argparse.ArgumentTypeError(f"tempo range {text!r}: want lo,hi with 0.5 <= lo <= hi <= 2")
    return lo, hi


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m vc_core.train.train", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--features", type=Path, nargs="+", default=[Path(".cache/features")], help="one or more features folders"
    )
    ap.add_argument("--work", type=Path, default=Path(".cache/train"))
    ap.add_argument("--content-steps", type=int, default=TrainConfig.content_steps)
    ap.add_argument("--converter-steps", type=int, default=TrainConfig.converter_steps)
    ap.add_argument("--batch", type=int, default=TrainConfig.batch)
    ap.add_argument("--threads", type=int, default=TrainConfig.threads)
    ap.add_argument("--seed", type=int, default=TrainConfig.seed)
    ap.add_argument("--stop-after", choices=["content"], help="end the run after this phase (resume later)")
    ap.add_argument(
        "--init-from", type=Path, default=None, help="earlier checkpoint: its PCA and converter start this run"
    )
    ap.add_argument("--lr", type=float, default=TrainConfig.lr)
    ap.add_argument("--encoder-channels", type=int, default=TrainConfig.encoder_channels)
    ap.add_argument(
        "--encoder-dilations",
        default=",".join(map(str, TrainConfig.encoder_dilations)),
        help="comma-separated dilations of the encoder's blocks",
    )
    ap.add_argument("--encoder-lookahead", type=int, default=TrainConfig.encoder_lookahead, help="frames")
    ap.add_argument(
        "--simulate-recording", action="store_true", help="random EQ, low-pass, reverberation and noise on the inputs"
    )
    ap.add_argument(
        "--phone-weight",
        type=float,
        default=TrainConfig.phone_weight,
        help="> 0: train the content encoder on whole utterances with this weight on a CTC loss on their phones",
    )
    ap.add_argument(
        "--tempo", default="1,1", help="lo,hi speaking-rate factors for the training examples (1,1 = as spoken)"
    )
    ap.add_argument("--freq-masks", type=int, default=TrainConfig.freq_masks, help="mel bands hidden from the encoder")
    ap.add_argument(
        "--content",
        choices=["encoder", "whisper"],
        default=TrainConfig.content,
        help="what the converter reads: the trained content encoder, or streamed Whisper states (no encoder)",
    )
    ap.add_argument(
        "--whisper-window",
        type=cast_window,
        default=TrainConfig.whisper_window,
        metavar="W,H,L",
        help="with --content whisper: the live window, hop and look-ahead in 16 kHz samples",
    )
    ap.add_argument(
        "--states-hop",
        type=int,
        default=TrainConfig.states_hop,
        help="hop of the training states (dataset --windowed W,STATES_HOP,L): a multiple of the live hop",
    )
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    cfg = TrainConfig(
        content_steps=args.content_steps,
        converter_steps=args.converter_steps,
        batch=args.batch,
        threads=args.threads,
        seed=args.seed,
        lr=args.lr,
        encoder_channels=args.encoder_channels,
        encoder_dilations=tuple(int(d) for d in args.encoder_dilations.split(",")),
        encoder_lookahead=args.encoder_lookahead,
        simulate_recording=args.simulate_recording,
        phone_weight=args.phone_weight,
        tempo_range=cast_range(args.tempo),
        freq_masks=args.freq_masks,
        content=args.content,
        whisper_window=args.whisper_window,
        states_hop=args.states_hop,
    )
    s = train(args.features, args.work, cfg, not args.no_progress, args.stop_after, args.init_from)
    if "stopped_after" in s:
        print(f"stopped after the {s['stopped_after']} phase; run again to resume")
        return 0
    last = {h["phase"]: h["val_loss"] for h in s["history"]}
    vals = ", ".join(f"{phase} val {v:.4f}" for phase, v in last.items())
    print(f"trained in {s['train_seconds']:.0f} s: {vals}; checkpoint in {args.work / CHECKPOINT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
