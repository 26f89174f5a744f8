"""Audio I/O: files, simulated devices, PortAudio devices, routing, latency probes; the CLI's JSON reports."""
