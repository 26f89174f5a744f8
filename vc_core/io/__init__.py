"""Audio I/O: files, simulated devices, PortAudio devices, routing and latency probes."""
