# The README names these targets. Everything runs from a local virtual environment (.venv).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export NUMBA_CACHE_DIR := $(CURDIR)/.cache/numba

TRAIN_VENV := .venv-train
TRAIN_STAMP := $(TRAIN_VENV)/.installed

.PHONY: app demo test lint typecheck bench train train-realtime eval eval-realtime package screenshots sysdeps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[gui,dev]'
	touch $(STAMP)

## app: set up and start the desktop app (on a machine with no screen: the headless demo)
app: $(STAMP)
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY$$QT_QPA_PLATFORM" ] || [ "$$(uname)" != Linux ]; then \
		$(BIN)/vc-app; \
	else \
		echo "no screen found (DISPLAY/WAYLAND_DISPLAY unset): running the headless demo instead"; \
		$(MAKE) --no-print-directory demo; \
	fi

## demo: convert the bundled LibriVox clip with the default voice
demo: $(STAMP)
	@mkdir -p out
	$(BIN)/vc voices
	$(BIN)/vc convert assets/speech_librivox.flac out/demo_deep.wav --voice deep --overwrite
	$(BIN)/vc simulate assets/speech_librivox.flac out/demo_live_deep.wav --voice deep --overwrite
	$(BIN)/vc convert assets/speech_librivox.flac out/demo_heart.wav --voice heart --overwrite
	@echo "demo output: $(CURDIR)/out/demo_deep.wav (offline), out/demo_live_deep.wav (live engine)"
	@echo "             and out/demo_heart.wav (neural voice 'heart')"

## test: the whole suite, headless
test: $(STAMP)
	./scripts/sysdeps.sh
	@# exit 5 means pytest collected nothing: say so instead of failing obscurely
	$(BIN)/python -m pytest -q; status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests (check tests/ and testpaths)"; fi; \
	exit $$status

lint: $(STAMP)
	$(BIN)/ruff check vc_core app tests benchmarks scripts
	$(BIN)/ruff format --check vc_core app tests benchmarks scripts

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/vc bench --json benchmarks/results/bench.json

$(TRAIN_STAMP): pyproject.toml
	$(PYTHON) -m venv $(TRAIN_VENV)
	$(TRAIN_VENV)/bin/python -m pip install -q --upgrade pip
	$(TRAIN_VENV)/bin/python -m pip install -q -e '.[train,eval,gui,dev]'
	touch $(TRAIN_STAMP)

## train: rebuild every shipped neural model from scratch (about 100 min on 2 cores; resumable; then make eval)
train: $(TRAIN_STAMP)
	./scripts/sysdeps.sh --train
	./scripts/train.sh

## train-realtime: rebuild only the real-time (CPU) base, models/_neural_rt (about an hour on 2 cores; resumable)
train-realtime: $(TRAIN_STAMP)
	./scripts/sysdeps.sh --train
	BASES=realtime ./scripts/train.sh

## eval: quality of every library voice on real speech (README table, benchmarks/results/quality.json)
eval: $(TRAIN_STAMP)
	./scripts/sysdeps.sh
	$(TRAIN_VENV)/bin/python benchmarks/quality.py --voices joe,heart,kumo,alpha,nezumi,slt,ked

## eval-realtime: the same evaluation with the neural voices on the real-time (CPU) base
eval-realtime: $(TRAIN_STAMP)
	./scripts/sysdeps.sh
	$(TRAIN_VENV)/bin/python benchmarks/quality.py --voices joe,heart,kumo,alpha,nezumi,slt,ked --base realtime \
		--json benchmarks/results/quality_realtime.json

## package: freeze the desktop app with PyInstaller (runtime only) and smoke-test it offscreen
package: $(STAMP)
	$(BIN)/python -m pip install -q "pyinstaller>=6.0"
	$(BIN)/pyinstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build/pyinstaller \
		packaging/voicechanger.spec
	./packaging/smoke_test.sh dist/vc-app/vc-app
	@du -sh dist/vc-app

## screenshots: regenerate docs/screenshots/*.png (offscreen Qt, private PipeWire devices)
screenshots: $(STAMP)
	VC_SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest -q tests/test_app_live_pipewire.py tests/test_app_screenshots.py

sysdeps:
	./scripts/sysdeps.sh

clean:
	rm -rf $(VENV) out .cache .pytest_cache .mypy_cache .ruff_cache build dist
