"""Model voices: the neural content encoder, converter and vocoder run by onnxruntime."""
