"""The ``vllm`` backend: vLLM's in-process engine on a GPU, with weight sync.

Prompts go in as token ids (``TokensPrompt``) and completions come back with their
ids and the log-probability of each sampled token (``logprobs=0`` asks vLLM for
exactly the sampled token's). ``update_weights`` loads a trainer's state dict into
the engine's model on every worker, so rollouts use the newest policy.

GPU only: vLLM is imported lazily, and ``pip install agentrl[vllm]`` brings it. This
backend has not been run on the project's CPU machines; see the tests marked ``gpu``.
For vLLM's OpenAI-compatible *server*, use the ``openai`` backend instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from agentrl.agents.generation import Completion, SamplingParams


def _require_vllm() -> Any:
    try:
        import vllm
    except ImportError as err:
        raise ImportError("the vllm backend needs vLLM on a CUDA machine: pip install 'agentrl[vllm]'") from err
    return vllm


def _load_weights_on_worker(worker: Any, weights: list[tuple[str, Any]]) -> int:
    """Runs inside each vLLM worker (through ``collective_rpc``)."""
    model = worker.model_runner.model
    model.load_weights(weights=iter(weights))
    return len(weights)


class VLLMBackend:
    """Generate with an in-process ``vllm.LLM``.

    Args:
        model: An HF model id or local path vLLM can load.
        tokenizer: The matching tokenizer (decoding only; vLLM tokenizes nothing here).
        gpu_memory_utilization: Share of GPU memory vLLM may take.
        dtype: Weights dtype (``auto``, ``bfloat16``, ...).
        **engine_kwargs: Passed to ``vllm.LLM``.
    """

    def __init__(
        self,
        model: str,
        tokenizer: Any = None,
        *,
        gpu_memory_utilization: float = 0.5,
        dtype: str = "auto",
        **engine_kwargs: Any,
    ):
        vllm = _require_vllm()
        self.llm = vllm.LLM(model=model, dtype=dtype, gpu_memory_utilization=gpu_memory_utilization, **engine_kwargs)
        self.tokenizer = tokenizer if tokenizer is not None else self.llm.get_tokenizer()
        eos = getattr(self.tokenizer, "eos_token_id", None)
        self.eos_ids = {int(eos)} if eos is not None else set()
        self.weights_shared = False
        """The engine holds its own copy of the weights: the trainer pushes them after each update."""
        self._closed = False

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Completion]:
        """Complete every prompt in one engine call; see ``GenerationBackend``."""
        vllm = _require_vllm()
        sampling = vllm.SamplingParams(
            max_tokens=params.max_new_tokens,
            temperature=max(params.temperature, 0.0),
            top_p=params.top_p,
            stop=list(params.stop) or None,
            seed=params.seed,
            logprobs=0,
        )
        inputs = [vllm.inputs.TokensPrompt(prompt_token_ids=list(p)) for p in prompts]
        outputs = self.llm.generate(inputs, sampling, use_tqdm=False)
        completions = []
        for output in outputs:
            best = output.outputs[0]
            ids = list(best.token_ids)
            logprobs = [float(step[token].logprob) for step, token in zip(best.logprobs or [], ids, strict=False)]
            if len(logprobs) != len(ids):
                logprobs = [float("nan")] * len(ids)
            reason = "length" if best.finish_reason == "length" else "stop"
            completions.append(Completion(ids, logprobs, best.text, reason))
        return completions

    def update_weights(self, named_tensors: Iterable[tuple[str, Any]] | Mapping[str, Any]) -> int:
        """Load new weights (HF names) into the engine's model on every worker."""
        items = list(named_tensors.items()) if isinstance(named_tensors, Mapping) else list(named_tensors)
        results = self.llm.collective_rpc(_load_weights_on_worker, args=(items,))
        self.llm.reset_prefix_cache()
        return int(results[0]) if results else 0

    def stats(self) -> dict[str, float]:
        return {}

    def close(self) -> None:
        """Shut the engine down and free its GPU memory; idempotent."""
        if self._closed:
            return
        self._closed = True
        import gc

        import torch

        del self.llm  # the engine's workers and KV cache go with the last reference
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
