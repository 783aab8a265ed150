"""The vllm backend on a GPU: ids and log-probs agree with transformers, weights sync.

Runs only where CUDA and vLLM are present (``pytest -m gpu`` on a GPU machine)."""

from __future__ import annotations

import importlib.util

import pytest

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available() or importlib.util.find_spec("vllm") is None,
        reason="needs a CUDA GPU and vLLM (pip install 'agentrl[vllm]')",
    ),
]


def test_vllm_matches_transformers_and_syncs_weights(tmp_path):
    from transformers import AutoModelForCausalLM

    from agentrl.agents.backends.hf import HFBackend
    from agentrl.agents.backends.vllm import VLLMBackend
    from agentrl.agents.generation import SamplingParams
    from agentrl.agents.models import ModelConfig, load_model

    model, tokenizer = load_model(ModelConfig(name="smollm2", device="cuda"))
    path = tmp_path / "smollm2"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    backend = VLLMBackend(str(path), tokenizer, gpu_memory_utilization=0.3, dtype="float32")
    prompt = tokenizer("The capital of France is", add_special_tokens=False)["input_ids"]
    params = SamplingParams(max_new_tokens=8, temperature=0.0)
    ours = backend.generate([prompt], params)[0]
    reference = HFBackend(model, tokenizer).generate([prompt], params)[0]
    assert ours.token_ids == reference.token_ids
    assert max(abs(a - b) for a, b in zip(ours.logprobs, reference.logprobs, strict=True)) < 1e-2
    other = AutoModelForCausalLM.from_pretrained(path).cuda()
    for parameter in other.parameters():
        parameter.data.mul_(0.5)
    assert backend.update_weights(other.state_dict()) > 0
    assert (
        backend.generate([prompt], params)[0].token_ids
        == HFBackend(other, tokenizer).generate([prompt], params)[0].token_ids
    )
