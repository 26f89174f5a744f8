"""The Live panel: Start / Passthrough, level meters, latency and load readouts, the per-stage line,
the base line, the scrolling plot and calibration (the stats and state of LiveViewModel)."""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QMessageBox, QPushButton

from app.viewmodels.live import Calibration, LiveViewModel
from app.views.controls import Panel, Readout
from app.views.widgets import LevelMeter, ScrollingPlot, repolish
from vc_core.engine.live import EngineStats
from vc_core.live.controller import LiveState

STAGE_LABELS = {
    "resample_denoise": "dn-in",
    "denoise": "denoise",
    "resample_in": "in",
    "gate": "gate",
    "voice": "voice",
    "output_gain": "gain",
    "resample_out": "out",
}


def _muted(text: str) -> QLabel:
    lab = QLabel(text)
    lab.setObjectName("muted")
    lab.setWordWrap(True)
    return lab


class LivePanel(Panel):
    def __init__(self, live: LiveViewModel, notify: Callable[[str], None]) -> None:
        super().__init__("Live")
        self.live = live
        self._notify = notify
        self._shown_engine_error = ""
        btns = QHBoxLayout()
        btns.setSpacing(10)
        self.start_btn = QPushButton("▶  Start")
        self.start_btn.setObjectName("startButton")
        self.start_btn.setToolTip("Start / stop (Space)")
        self.pass_btn = QPushButton("Passthrough")
        self.pass_btn.setObjectName("passButton")
        self.pass_btn.setCheckable(True)
        self.pass_btn.setToolTip("Hear your own voice, unconverted (P)")
        for b in (self.start_btn, self.pass_btn):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        btns.addWidget(self.start_btn, 3)
        btns.addWidget(self.pass_btn, 2)
        self.lay.addLayout(btns)
        self.meter_in = LevelMeter("INPUT")
        self.meter_out = LevelMeter("OUTPUT")
        self.lay.addWidget(self.meter_in)
        self.lay.addWidget(self.meter_out)
        tiles = QGridLayout()
        tiles.setHorizontalSpacing(18)
        tiles.setVerticalSpacing(10)
        self.r_expected = Readout("expected latency")
        self.r_now = Readout("latency now")
        self.r_measured = Readout("measured round trip")
        self.r_rtf = Readout("CPU (RTF)")
        self.r_xruns = Readout("xruns")
        self.r_queue = Readout("queue")
        tiles_order = (self.r_expected, self.r_now, self.r_measured, self.r_rtf, self.r_xruns, self.r_queue)
        for i, r in enumerate(tiles_order):
            tiles.addWidget(r, i // 3, i % 3)
        self.lay.addLayout(tiles)
        self.stages_label = _muted("per stage: —")
        self.lay.addWidget(self.stages_label)
        self.base_label = _muted("—")
        self.base_label.setToolTip('The neural base the running voice uses, and why (see "Neural base")')
        self.lay.addWidget(self.base_label)
        self.plot = ScrollingPlot()
        self.lay.addWidget(self.plot, 1)
        cal = QHBoxLayout()
        self.calibrate_btn = QPushButton("Calibrate latency")
        self.calibrate_btn.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.calibrate_btn.setToolTip(
            "Plays a click train on the output and finds it in the input (needs a loopback: a cable, a virtual "
            "device, or the microphone at the speaker). While live the stream pauses for about 3 s."
        )
        self.calibration_label = _muted("not measured yet")
        cal.addWidget(self.calibrate_btn)
        cal.addWidget(self.calibration_label, 1)
        self.lay.addLayout(cal)

        live.stats.connect(self.show_stats)
        live.passthroughChanged.connect(self.pass_btn.setChecked)
        live.calibratingChanged.connect(self._on_calibrating)
        live.calibrated.connect(self._on_calibrated)
        live.baseChosen.connect(lambda _c: self.base_label.setText(live.base_text()))
        self.start_btn.clicked.connect(self.start_or_stop)
        self.pass_btn.clicked.connect(live.set_passthrough)
        self.calibrate_btn.clicked.connect(live.calibrate)

    def start_or_stop(self) -> None:
        """Start (after asking once when the output may be a loudspeaker) or stop."""
        out = self.live.output_needing_confirmation()
        if out is not None:
            answer = QMessageBox.question(
                self,
                "Play on this output?",
                f"The converted microphone will play on {out.label()}. If that is a loudspeaker the "
                "microphone will hear it and howl.\n\nUse headphones or the virtual microphone. Continue?",
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
            self.live.confirm_output(out)
        self.live.toggle()

    def show_state(self, state: LiveState) -> None:
        live = state is LiveState.LIVE
        settled = state in (LiveState.LIVE, LiveState.STOPPED)
        self.start_btn.setText("■  Stop" if live else ("▶  Start" if settled else "…"))
        self.start_btn.setProperty("live", live)
        repolish(self.start_btn)
        self.start_btn.setEnabled(settled)
        self.calibrate_btn.setEnabled(settled)
        if state is LiveState.STARTING:
            self.plot.clear()
            self._shown_engine_error = ""
        self.base_label.setText(self.live.base_text())

    def show_stats(self, s: EngineStats) -> None:
        self.meter_in.set_level(s.input_dbfs)
        self.meter_out.set_level(s.output_dbfs)
        self.r_expected.set(
            f"{s.expected_latency_ms:.1f} ms",
            f"engine {s.engine_latency_ms:.1f} ms (chain {s.chain_latency_ms:.1f} + block + safety) "
            f"+ device {s.device_latency_ms:.1f} ms as PortAudio reports it",
        )
        self.r_rtf.set(f"{s.rtf:.3f}", "compute time / audio time; above 1 the voice cannot keep up")
        self.r_xruns.set(
            str(s.xruns) + (f" · in {s.input_overflow_ms:.0f} ms lost" if s.input_overflow_ms else ""),
            f"underrun {s.underrun_ms:.0f} ms, dropped {s.dropped_ms:.0f} ms, "
            f"late discarded {s.late_discarded_ms:.0f} ms, input overflow {s.input_overflow_ms:.0f} ms "
            "(the microphone's audio the engine could not queue)",
        )
        self.r_queue.set(f"{s.queue_ms:.0f} ms", f"converted audio waiting; backlog {s.backlog_ms:.0f} ms")
        now = self.live.latency_now_ms if s.running else 0.0
        if now:
            resets = self.live.delay_resets
            self.r_now.set(
                f"{now:.1f} ms",
                f"engine {s.engine_latency_ms:.1f} ms + what the device buffers hold now"
                + (f"; device buffers reset {resets}×" if resets else ""),
            )
        if s.measured_latency_ms is not None:
            self.r_measured.set(f"{s.measured_latency_ms:.1f} ms", "device round trip (clicks) + engine latency")
        if s.stage_p50_ms:
            parts = [f"{STAGE_LABELS.get(k, k)} {v:.2f}" for k, v in s.stage_p50_ms.items() if k != "total"]
            total = s.stage_p50_ms.get("total", 0.0)
            p99 = s.stage_p99_ms.get("total", 0.0)
            self.stages_label.setText(f"per block, ms (p50): {' · '.join(parts)}  —  total {total:.2f}, p99 {p99:.2f}")
        if s.running:
            self.plot.push(now or s.expected_latency_ms, s.rtf)
        if s.error and s.error != self._shown_engine_error:
            self._shown_engine_error = s.error
            self._notify(s.error)

    def _on_calibrating(self, on: bool) -> None:
        self.calibrate_btn.setEnabled(not on and self.live.state in (LiveState.STOPPED, LiveState.LIVE))
        if on:
            self.calibration_label.setText("measuring… (≈3 s of clicks)")

    def _on_calibrated(self, c: Calibration) -> None:
        self.r_measured.set(
            f"{c.total_ms:.1f} ms",
            f"device round trip {c.device_ms:.1f} ms (measured) + engine {c.engine_ms:.1f} ms (exact)",
        )
        reported = "" if c.reported_ms is None else f", PortAudio says {c.reported_ms:.1f}"
        self.calibration_label.setText(
            f"device {c.device_ms:.1f} ms ± {c.spread_ms / 2:.1f} ({c.detected}/{c.clicks} clicks{reported}) "
            f"+ engine {c.engine_ms:.1f} ms"
        )
