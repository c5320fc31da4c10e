# tms — `make demo` runs the main job end to end, `make test` runs every check CI runs.
# Each target installs what is missing first and downloads nothing the second time.

SHELL := /bin/bash
PYTHON ?= python3
VENV := $(CURDIR)/.venv
TORCH_VERSION := 2.11.0
# PyPI's Linux torch wheel is the CUDA build. Without an NVIDIA driver, tms needs only libtorch's
# CPU half (src/model/cuda.rs), so `torch` installs the wheel with just the two CUDA runtimes
# that libtorch_cpu.so links (1.2 GB, not 4.8 GB); `make gpu` adds the full CUDA set, as `torch`
# does by itself where a driver is found (the same places tms looks). TORCH_CUDA=0|1 overrides.
ifndef TORCH_CUDA
TORCH_CUDA := $(shell if [ -e /proc/driver/nvidia/version ] || [ -e /dev/nvidiactl ] || [ -e /dev/dxg ] \
	|| nvidia-smi -L >/dev/null 2>&1; then echo 1; else echo 0; fi)
endif
TORCH := $(VENV)/.torch-$(TORCH_VERSION)
# music21 reads back the notation tms writes (tests/notation.rs); a test tool, not a dependency.
MUSIC21_VERSION := 10.5.1
# libtorch comes from the PyPI torch wheel inside the project's git-ignored virtualenv. A
# `$(shell)` rather than `$(wildcard)`: make caches directory listings, so on a fresh clone
# `$(wildcard)` would not see the .venv that the `torch` target creates during this run.
LIBTORCH ?= $(shell ls -d $(VENV)/lib/python3*/site-packages/torch 2>/dev/null | head -n 1)
export LIBTORCH
# `make build FEATURES=link` (or `FEATURES=jack,link`): cargo features of the release build.
FEATURES ?=
comma := ,
CARGO_FEATURES = $(if $(FEATURES),--features $(FEATURES),)
TMS := target/release/tms

# Ableton Link (`FEATURES=link`) builds its C++ library with cmake and runs bindgen (libclang).
APT_LINK := cmake libclang-dev
APT_BUILD := libasound2-dev pkg-config $(if $(filter link,$(subst $(comma), ,$(FEATURES))),$(APT_LINK))
APT_SOUND := fluid-soundfont-gm timgm6mb-soundfont
APT_TEST := jackd2 libjack-jackd2-dev abcmidi $(APT_LINK) $(APT_SOUND)

.PHONY: all setup setup-test torch pytorch gpu music21 apt-build apt-test apt-demo essen essen-midi build demo test bench fuzz clean

all: build

## --- set-up -------------------------------------------------------------------------------

torch: $(TORCH) $(if $(filter 1,$(TORCH_CUDA)),$(TORCH)-cuda)

# What Python's `import torch` needs besides (make bench, tests/golden/make_pth.py); tests don't.
pytorch: $(if $(filter 1,$(TORCH_CUDA)),$(TORCH)-cuda,$(TORCH)-python)

gpu: $(TORCH)-cuda

$(TORCH):
	@PYTHON=$(PYTHON) bash scripts/install-torch.sh $(VENV) $(TORCH_VERSION) cpu
	@touch $@

$(TORCH)-python: $(TORCH)
	@PYTHON=$(PYTHON) bash scripts/install-torch.sh $(VENV) $(TORCH_VERSION) python
	@touch $@

$(TORCH)-cuda: $(TORCH)
	@PYTHON=$(PYTHON) bash scripts/install-torch.sh $(VENV) $(TORCH_VERSION) cuda
	@touch $@

music21: $(VENV)/.music21-$(MUSIC21_VERSION)

$(VENV)/.music21-$(MUSIC21_VERSION): $(TORCH)
	@if ! $(VENV)/bin/python -c "import music21,sys; sys.exit(music21.__version__ != '$(MUSIC21_VERSION)')" 2>/dev/null; then \
	  echo "installing music21 $(MUSIC21_VERSION) into .venv (test tool: reads back written notation)"; \
	  $(VENV)/bin/pip install -q music21==$(MUSIC21_VERSION); \
	fi
	@touch $@

# Debian packages; without root, prints the apt-get line to run instead.
define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then echo "apt-get install$$missing"; \
	    (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  elif command -v sudo >/dev/null; then sudo apt-get update -qq; sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "missing Debian packages:$$missing — run: sudo apt-get install$$missing"; exit 1; fi; \
	fi
endef

apt-build:
	$(call apt_install,$(APT_BUILD))

apt-test:
	$(call apt_install,$(APT_BUILD) $(APT_TEST))

# The demo renders WAV through a SoundFont, as the notebook did with FluidR3_GM.
apt-demo:
	$(call apt_install,$(APT_BUILD) $(APT_SOUND))

essen: datasets/essen/han1.abc

# The Essen songs as one MIDI file per tune (music21's ABC -> MIDI), for
# `tms run scripts/notebook.tms`: the notebook read a folder of MIDI files.
essen-midi: datasets/essen-midi/.done

datasets/essen-midi/.done: datasets/essen/han1.abc | music21
	$(VENV)/bin/python tests/golden/essen_to_midi.py $(CURDIR) --midi-only
	@touch $@

datasets/essen/han1.abc:
	bash tests/golden/fetch_essen.sh $(CURDIR)

setup: torch apt-build

setup-test: torch music21 apt-test essen

## --- build, demo ---------------------------------------------------------------------------

# Two binaries: `tms` (the stage: it never loads libtorch) and `tms-trainer` beside it (all that
# needs libtorch, started by tms on demand; README, "Training in a process of its own").
build: setup
	cargo build --release $(CARGO_FEATURES) --bin tms
	cargo build --release --features torch --bin tms-trainer

demo: build essen apt-demo
	@mkdir -p out
	$(TMS) run scripts/demo.tms

## --- tests ---------------------------------------------------------------------------------

test: setup-test
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --all-targets --features torch -- -D warnings
	cargo clippy --all-targets --features jack -- -D warnings
	cargo clippy --all-targets --features link -- -D warnings
	cargo build --features torch --bin tms-trainer
	TMS_REQUIRE_ESSEN=1 cargo test --workspace
	TMS_REQUIRE_ESSEN=1 cargo test --features torch --lib
	bash tests/jack_tests.sh
	cargo test --features link --lib --test suite link

## --- benchmarks (measure and print; BENCHMARKS.md records the results) ---------------------

bench: setup-test pytorch build
	bash benches/run.sh

# The million-input fuzz campaign of the parser, then mutations of real files through the
# MIDI, ABC, pickle and model readers with their peak memory (make test runs bounded ones).
fuzz: setup essen
	FUZZ_CASES=1000000 cargo test --release --test suite language_fuzz
	FUZZ_CASES=20000 /usr/bin/time -f 'reader_fuzz: max RSS %M KB' cargo test --release --test suite reader_fuzz

clean:
	cargo clean
