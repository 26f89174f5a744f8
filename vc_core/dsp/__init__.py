"""Signal processing building blocks: pitch estimation, pitch and formant shifting."""
