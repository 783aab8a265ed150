"""A ``VLLMBackend`` in its own process, driven by the vLLM tests over JSON lines.

Run with a Python that has vLLM (the ``make vllm`` virtualenv): ``python vllm_worker.py MODEL_DIR``.
Each line on stdin is one request, each line on the saved stdout one answer; whatever vLLM
prints goes to stderr. Requests: ``{"op": "generate", "prompts": [[ids]], "params": {...}}``,
``{"op": "update_weights", "path": FILE.safetensors}``, ``{"op": "stats"}``, ``{"op": "close"}``.
The first line out is ``{"eos_ids": [...]}`` once the engine is up.
"""

from __future__ import annotations

import json
import os
import sys
import traceback


def main() -> None:
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything the engine prints stays off the answer channel

    import torch
    from safetensors.torch import load_file

    from agentrl.agents.backends.vllm import VLLMBackend
    from agentrl.agents.generation import SamplingParams

    torch.set_num_threads(1)
    backend = VLLMBackend(sys.argv[1], dtype="float32", enforce_eager=True, kv_cache_gib=0.5, seed=0)
    answers.write(json.dumps({"eos_ids": sorted(backend.eos_ids)}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if request["op"] == "generate":
                completions = backend.generate(request["prompts"], SamplingParams(**request["params"]))
                answer: dict = {"completions": [c.__dict__ for c in completions]}
            elif request["op"] == "update_weights":
                answer = {"version": backend.update_weights(load_file(request["path"]))}
            elif request["op"] == "stats":
                answer = {"stats": backend.stats()}
            elif request["op"] == "close":
                backend.close()
                answers.write(json.dumps({"closed": True}) + "\n")
                return
            else:
                answer = {"error": f"unknown op {request['op']!r}"}
        except Exception:
            answer = {"error": traceback.format_exc()}
        answers.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
