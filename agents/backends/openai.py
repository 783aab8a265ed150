"""The ``openai`` backend: any OpenAI-compatible server over HTTP (httpx).

``generate`` sends token-id prompts to ``/v1/completions`` (one request per prompt,
at most ``max_concurrency`` in flight) and reads back the generated ids and their
log-probs. Servers differ in how they return ids; in order of preference:
``choices[i].token_ids`` (agentrl's server, vLLM with ``return_token_ids``), then
``logprobs.tokens`` written as ``token_id:N`` (vLLM's ``return_tokens_as_token_ids``),
then ``logprobs.tokens`` as text pieces (llama.cpp's Python server), each mapped to
the one id of the local vocabulary that decodes to it. A server whose answer fits none
of these gets its text re-encoded by the local tokenizer, with a warning, since the
ids may then differ from what the server sampled.

Servers that only take text prompts (``llama-cpp-python``'s) are detected: with
``prompt_format="auto"``, until the server has taken a token-id prompt, a refused one
is resent as its decoded text, and if that works every later prompt goes as text. A text prompt is
exact only when the server's tokenizer encodes it back to the same ids; the backend
checks that with the local tokenizer and counts the prompts that differ in
``prompt_drift`` (with a warning), so a trajectory never silently records ids the
server did not see.

Transport errors, HTTP 429 and 5xx are retried with exponential backoff.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from agentrl.agents.generation import Completion, SamplingParams

logger = logging.getLogger(__name__)


class OpenAIBackendError(RuntimeError):
    """The server could not be reached or refused the request (``status``: its HTTP status, if it answered)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class OpenAIBackend:
    """Generate through an OpenAI-compatible server.

    Args:
        base_url: The server, e.g. ``http://127.0.0.1:8001/v1``.
        model: The model name the server expects.
        tokenizer: Local tokenizer (decoding, and the fallback when ids are missing).
        api_key: Sent as a bearer token when given.
        timeout: Seconds per request.
        retries: Extra attempts after a retryable failure.
        max_concurrency: Requests in flight at once.
        prompt_format: ``ids`` (token-id prompts), ``text`` (decoded prompts, for servers that
            take only strings) or ``auto`` (ids, falling back to text when the server refuses them).
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        tokenizer: Any = None,
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
        retries: int = 3,
        max_concurrency: int = 16,
        prompt_format: str = "auto",
    ):
        if prompt_format not in ("auto", "ids", "text"):
            raise ValueError(f"prompt_format must be 'auto', 'ids' or 'text', not {prompt_format!r}")
        if prompt_format == "text" and tokenizer is None:
            raise ValueError("prompt_format='text' needs a local tokenizer to decode prompts")
        self.prompt_format = prompt_format if tokenizer is not None else "ids"
        self.prompt_drift = 0
        self.weights_shared = False
        """The server holds its own copy of the weights: the trainer pushes them after each update."""
        self._closed = False
        """Text prompts whose local re-encoding differs from the ids they were decoded from."""
        self._pieces: dict[str, int] | None = None
        self._lock = threading.Lock()
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.tokenizer = tokenizer
        self.retries = retries
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency)
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout, headers=headers, limits=limits)
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="agentrl-openai")
        self._warned = False
        eos = getattr(tokenizer, "eos_token_id", None)
        self.eos_ids = {int(eos)} if eos is not None else set()

    def _post(self, path: str, *, retries: int | None = None, **kwargs: Any) -> dict[str, Any]:
        retries = self.retries if retries is None else retries
        delay = 0.5
        for attempt in range(retries + 1):
            status: int | None = None
            try:
                response = self._client.post(path, **kwargs)
            except httpx.TransportError as err:
                failure: str = f"cannot reach {self.base_url}: {err}"
            else:
                if response.status_code < 400:
                    return response.json()
                status = response.status_code
                failure = f"{self.base_url}{path}: HTTP {response.status_code}: {response.text[:500]}"
                if response.status_code != 429 and response.status_code < 500:
                    raise OpenAIBackendError(failure, status)
            if attempt == retries:
                raise OpenAIBackendError(failure, status)
            time.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    def _body(self, params: SamplingParams) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": params.max_new_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "logprobs": 1,
            "return_token_ids": True,
            "return_tokens_as_token_ids": True,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if params.seed is not None:
            body["seed"] = params.seed
        return body

    def _ids(self, choice: dict[str, Any], text: str) -> list[int]:
        if choice.get("token_ids") is not None:
            return [int(i) for i in choice["token_ids"]]
        tokens = (choice.get("logprobs") or {}).get("tokens") or []
        if tokens and all(isinstance(t, str) and t.startswith("token_id:") for t in tokens):
            return [int(t.split(":", 1)[1]) for t in tokens]
        if self.tokenizer is not None and tokens and "".join(tokens) == text:
            pieces = self._piece_ids()
            if all(t in pieces for t in tokens):
                return [pieces[t] for t in tokens]
        if self.tokenizer is None:
            raise OpenAIBackendError("the server returned no token ids and no local tokenizer was given")
        if not self._warned:
            logger.warning("%s returns no token ids: re-encoding its text (ids may differ)", self.base_url)
            self._warned = True
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _piece_ids(self) -> dict[str, int]:
        """Text piece -> id, for the pieces that exactly one id of the local vocabulary decodes to."""
        with self._lock:
            if self._pieces is None:
                size = len(self.tokenizer)
                decoded = self.tokenizer.batch_decode([[i] for i in range(size)], clean_up_tokenization_spaces=False)
                owners: dict[str, list[int]] = {}
                for i, piece in enumerate(decoded):
                    owners.setdefault(piece, []).append(i)
                self._pieces = {p: ids[0] for p, ids in owners.items() if p and "\ufffd" not in p and len(ids) == 1}
            return self._pieces

    def _prompt_text(self, prompt: Sequence[int]) -> str:
        text = self.tokenizer.decode(list(prompt), clean_up_tokenization_spaces=False)
        if list(self.tokenizer(text, add_special_tokens=False)["input_ids"]) != list(prompt):
            with self._lock:
                self.prompt_drift += 1
                if self.prompt_drift == 1:
                    logger.warning(
                        "%s takes text prompts and a prompt re-encodes to other ids than the ones recorded; "
                        "the server may see a different tokenization (counted in prompt_drift)",
                        self.base_url,
                    )
        return text

    def _send(self, body: dict[str, Any], prompt: Sequence[int]) -> dict[str, Any]:
        as_ids, as_text = {**body, "prompt": list(prompt)}, None
        if self.prompt_format == "text":
            return self._post("/completions", json={**body, "prompt": self._prompt_text(prompt)})
        if self.prompt_format == "ids":
            return self._post("/completions", json=as_ids)
        # Until the server has taken an id prompt once, a refusal may mean "strings only"
        # (llama-cpp-python answers that with a 500): it is not retried but tried as text.
        try:
            data = self._post("/completions", retries=0, json=as_ids)
        except OpenAIBackendError as refused:
            if refused.status is None:  # not reached at all: the usual retries decide
                data = self._post("/completions", json=as_ids)
            else:
                as_text = {**body, "prompt": self._prompt_text(prompt)}
                try:
                    data = self._post("/completions", json=as_text)
                except OpenAIBackendError:
                    raise refused from None
        if self.prompt_format == "auto":
            self.prompt_format = "ids" if as_text is None else "text"
            if as_text is not None:
                logger.info("%s refuses token-id prompts: sending text prompts from now on", self.base_url)
        return data

    def _complete(self, prompt: Sequence[int], params: SamplingParams, index: int) -> Completion:
        body = self._body(params)
        if params.seed is not None:
            body["seed"] = params.seed + index  # distinct but reproducible per prompt
        data = self._send(body, prompt)
        choice = data["choices"][0]
        text = choice.get("text", "")
        ids = self._ids(choice, text)
        logprobs = [float(x) for x in ((choice.get("logprobs") or {}).get("token_logprobs") or [])]
        if len(logprobs) != len(ids):
            logprobs = [float("nan")] * len(ids)
        reason = "length" if choice.get("finish_reason") == "length" else "stop"
        return Completion(token_ids=ids, logprobs=logprobs, text=text, finish_reason=reason)

    def generate(self, prompts: Sequence[Sequence[int]], params: SamplingParams) -> list[Completion]:
        """Complete every prompt (concurrently); see ``GenerationBackend``."""
        futures = [self._pool.submit(self._complete, p, params, i) for i, p in enumerate(prompts)]
        return [f.result() for f in futures]

    def chat(self, messages: list[dict[str, Any]], params: SamplingParams) -> Completion:
        """One chat completion, for servers and hosted APIs that only take messages."""
        body = self._body(params)
        body.pop("return_tokens_as_token_ids")
        body["logprobs"] = True
        body["top_logprobs"] = 1  # some servers (llama.cpp's) attach log-probs only when this is set
        data = self._post("/chat/completions", json={**body, "messages": messages})
        choice = data["choices"][0]
        text = choice["message"].get("content") or ""
        content = (choice.get("logprobs") or {}).get("content") or []
        ids_from_tokens = {"logprobs": {"tokens": [c.get("token") for c in content]}}
        ids = self._ids({**choice, **ids_from_tokens} if choice.get("token_ids") is None else choice, text)
        logprobs = [float(c["logprob"]) for c in content] if len(content) == len(ids) else [float("nan")] * len(ids)
        reason = "length" if choice.get("finish_reason") == "length" else "stop"
        return Completion(token_ids=ids, logprobs=logprobs, text=text, finish_reason=reason)

    def update_weights(self, state_dict: Mapping[str, Any]) -> int:
        """Push new weights to the server (``POST /v1/weights``); returns the weight version."""
        from safetensors.torch import save

        tensors, seen = {}, set()
        for name, tensor in state_dict.items():
            # Tied weights (embeddings and lm_head) share storage, which safetensors refuses:
            # send each storage once; the receiving model keeps its own tie.
            if tensor.data_ptr() in seen:
                continue
            seen.add(tensor.data_ptr())
            tensors[name] = tensor.detach().contiguous().cpu()
        payload = save(tensors)
        data = self._post(
            "/weights", content=io.BytesIO(payload).getvalue(), headers={"Content-Type": "application/octet-stream"}
        )
        return int(data["weight_version"])

    def stats(self) -> dict[str, float]:
        """``prompt_drift``: text prompts whose local re-encoding differed from their ids."""
        return {"prompt_drift": float(self.prompt_drift)}

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=False)
        self._client.close()
