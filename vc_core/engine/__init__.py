"""The live engine: lock-free rings between the audio callback and one inference worker."""
