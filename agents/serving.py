"""An OpenAI-compatible server for a policy (``agentrl serve-model``).

Serves any :class:`~agentrl.agents.generation.GenerationBackend` (transformers on CPU
here; vLLM's own server is the GPU option) so rollouts can run on other machines:

* ``POST /v1/completions``: ``prompt`` as text, token ids, or a list of either;
  ``max_tokens``, ``temperature``, ``top_p``, ``stop``, ``seed``, ``logprobs``. Each
  choice carries ``token_ids`` and ``prompt_token_ids`` (as vLLM does) besides the
  OpenAI fields, so clients never re-tokenize.
* ``POST /v1/chat/completions``: messages through the tokenizer's chat template.
* ``POST /v1/weights``: a safetensors file as the body replaces the model's weights
  (the trainer's weight sync); answers the new ``weight_version``.
* ``GET /v1/models``, ``GET /health``.

Concurrent requests are batched: a worker thread drains the queue and sends every
waiting request with the same sampling settings to the backend in one call.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import astuple, dataclass
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

from agentrl.agents.generation import Completion, GenerationBackend, SamplingParams


@dataclass
class ModelServerConfig:
    """Settings of a model server."""

    host: str = "127.0.0.1"
    """Address to bind."""
    port: int = 8001
    """TCP port."""
    max_batch_size: int = 64
    """Most prompts sent to the backend in one call."""
    max_tokens_limit: int = 4096
    """Largest ``max_tokens`` a request may ask for."""


class CompletionRequest(BaseModel):
    model: str | None = None
    prompt: str | list[int] | list[str] | list[list[int]]
    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    stop: str | list[str] | None = None
    seed: int | None = None
    logprobs: int | None = None
    n: int = 1


class ChatRequest(BaseModel):
    model: str | None = None
    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    stop: str | list[str] | None = None
    seed: int | None = None
    logprobs: bool = False


class _Batcher:
    """Groups concurrent requests with equal sampling settings into one backend call."""

    def __init__(self, backend: GenerationBackend, max_batch_size: int, lock: threading.Lock):
        self.backend = backend
        self.max_batch_size = max_batch_size
        self.lock = lock  # held while generating, so weight updates never interleave
        self.jobs: queue.Queue[tuple[list[int], SamplingParams, Future[Completion]]] = queue.Queue()
        threading.Thread(target=self._work, daemon=True, name="agentrl-batcher").start()

    def submit(self, prompt: list[int], params: SamplingParams) -> Future[Completion]:
        future: Future[Completion] = Future()
        self.jobs.put((prompt, params, future))
        return future

    def _work(self) -> None:
        while True:
            batch = [self.jobs.get()]
            while len(batch) < self.max_batch_size:
                try:
                    batch.append(self.jobs.get_nowait())
                except queue.Empty:
                    break
            groups: dict[tuple, list[tuple[list[int], SamplingParams, Future[Completion]]]] = {}
            for job in batch:
                groups.setdefault(_key(job[1]), []).append(job)
            for jobs in groups.values():
                try:
                    with self.lock:
                        outputs = self.backend.generate([job[0] for job in jobs], jobs[0][1])
                    for job, output in zip(jobs, outputs, strict=True):
                        job[2].set_result(output)
                except Exception as err:
                    for job in jobs:
                        job[2].set_exception(err)


def _key(params: SamplingParams) -> tuple:
    return tuple(tuple(v) if isinstance(v, list) else v for v in astuple(params))


def create_app(
    backend: GenerationBackend,
    tokenizer: Any,
    model_name: str,
    *,
    load_weights: Callable[[bytes], int] | None = None,
    config: ModelServerConfig | None = None,
) -> FastAPI:
    """The app serving ``backend``; ``load_weights(safetensors_bytes)`` enables ``/v1/weights``."""
    config = config or ModelServerConfig()
    lock = threading.Lock()
    batcher = _Batcher(backend, config.max_batch_size, lock)
    state = {"weight_version": 0}
    app = FastAPI(title=f"agentrl model server: {model_name}")

    def encode(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])

    def params_of(max_tokens: int, temperature: float, top_p: float, stop: Any, seed: int | None) -> SamplingParams:
        if not 0 < max_tokens <= config.max_tokens_limit:
            raise HTTPException(400, f"max_tokens must be in 1..{config.max_tokens_limit}, got {max_tokens}")
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        return SamplingParams(max_new_tokens=max_tokens, temperature=temperature, top_p=top_p, stop=stops, seed=seed)

    def run(prompts: list[list[int]], params: SamplingParams) -> list[Completion]:
        if any(not p for p in prompts):
            raise HTTPException(400, "empty prompt")
        futures = [batcher.submit(p, params) for p in prompts]
        return [f.result() for f in futures]

    def token_strings(ids: list[int]) -> list[str]:
        return [f"token_id:{i}" for i in ids]

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": model_name, "weight_version": state["weight_version"]}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "agentrl"}]}

    @app.post("/v1/completions")
    def completions(request: CompletionRequest) -> dict[str, Any]:
        if request.n != 1:
            raise HTTPException(400, "n must be 1 (send the prompt several times for several samples)")
        raw: Any = request.prompt
        if isinstance(raw, str):
            prompts = [encode(raw)]
        elif raw and all(isinstance(x, int) for x in raw):
            prompts = [list(raw)]
        else:
            prompts = [encode(x) if isinstance(x, str) else list(x) for x in raw]
        params = params_of(request.max_tokens, request.temperature, request.top_p, request.stop, request.seed)
        outputs = run(prompts, params)
        choices = []
        for index, (prompt, out) in enumerate(zip(prompts, outputs, strict=True)):
            choice: dict[str, Any] = {
                "index": index,
                "text": out.text,
                "finish_reason": out.finish_reason,
                "token_ids": out.token_ids,
                "prompt_token_ids": prompt,
                "logprobs": None,
            }
            if request.logprobs is not None:
                choice["logprobs"] = {
                    "tokens": token_strings(out.token_ids),
                    "token_logprobs": out.logprobs,
                    "top_logprobs": None,
                    "text_offset": None,
                }
            choices.append(choice)
        return {
            "id": f"cmpl-{uuid.uuid4().hex}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": model_name,
            "choices": choices,
            "weight_version": state["weight_version"],
            "usage": {
                "prompt_tokens": sum(map(len, prompts)),
                "completion_tokens": sum(len(o.token_ids) for o in outputs),
                "total_tokens": sum(map(len, prompts)) + sum(len(o.token_ids) for o in outputs),
            },
        }

    @app.post("/v1/chat/completions")
    def chat(request: ChatRequest) -> dict[str, Any]:
        try:
            text = tokenizer.apply_chat_template(request.messages, tokenize=False, add_generation_prompt=True)
        except Exception as err:
            raise HTTPException(400, f"cannot apply the chat template: {err}") from err
        prompt = encode(text)
        max_tokens = request.max_completion_tokens or request.max_tokens or 256
        (out,) = run([prompt], params_of(max_tokens, request.temperature, request.top_p, request.stop, request.seed))
        logprobs: dict[str, Any] | None = None
        if request.logprobs:
            content: list[dict[str, Any]] = [
                {"token": f"token_id:{i}", "logprob": lp, "bytes": None, "top_logprobs": []}
                for i, lp in zip(out.token_ids, out.logprobs, strict=True)
            ]
            logprobs = {"content": content}
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model_name,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": out.text},
                    "finish_reason": out.finish_reason,
                    "logprobs": logprobs,
                    "token_ids": out.token_ids,
                    "prompt_token_ids": prompt,
                }
            ],
            "weight_version": state["weight_version"],
            "usage": {"prompt_tokens": len(prompt), "completion_tokens": len(out.token_ids)},
        }

    @app.post("/v1/weights")
    async def weights(request: Request) -> dict[str, Any]:
        if load_weights is None:
            raise HTTPException(501, "this server does not accept weight updates")
        body = await request.body()
        try:
            with lock:
                count = load_weights(body)
        except Exception as err:
            raise HTTPException(400, f"cannot load the weights: {err}") from err
        state["weight_version"] += 1
        return {"updated_tensors": count, "weight_version": state["weight_version"]}

    return app


def state_dict_loader(model: Any) -> Callable[[bytes], int]:
    """``load_weights`` for a torch model: a safetensors payload replaces matching tensors."""

    def load(payload: bytes) -> int:
        from safetensors.torch import load as load_safetensors

        from agentrl.agents.models import load_weights

        return load_weights(model, load_safetensors(payload))

    return load
