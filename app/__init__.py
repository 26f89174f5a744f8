"""The desktop app: Qt views over view-models over the headless engine in :mod:`vc_core`.

Context (c) of the engine, the Qt main thread, lives here. Nothing in this package touches audio
buffers: view-models read :class:`~vc_core.engine.live.EngineStats` snapshots on a QTimer and run
anything slow (voice loading, device opens, conversion, calibration, pactl) on worker QThreads.
"""
