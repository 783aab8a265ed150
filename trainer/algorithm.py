"""The algorithm table: one place that maps a name to (config class, algorithm class).

An algorithm is one module and one YAML file. The module defines a config dataclass
(with a ``name`` field and a docstring per field) and a class that implements
:class:`Algorithm`, and registers the pair::

    @register_algorithm("toy", ToyConfig, summary="REINFORCE on the episode return, no baseline")
    class Toy:
        def __init__(self, cfg: ToyConfig, ctx: AlgoContext): ...

``configs/algo/toy.yaml`` then starts from the schema the registration stores
(``defaults: [toy_schema]``), and ``agentrl train algo=toy`` works. Nothing else
changes: the loop builds the policy the config's :meth:`needs <AlgoConfig.needs>`
describe (a value head, a reference policy), hands the algorithm an
:class:`AlgoContext`, and every optimiser step goes through :func:`optimizer_step`
(gradient all-reduce over data-parallel ranks, clipping, step).

The table finds algorithms by importing every module of :mod:`agentrl.trainer` (built-in
algorithms register on import), the modules named by the ``agentrl.algorithms`` entry
point group (installed third-party packages), and modules given to ``agentrl train
--plugin MODULE``.
"""

from __future__ import annotations

import functools
import importlib
import logging
import pkgutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol

import torch
from torch.distributed.tensor import DTensor

from agentrl.agents.base import Agent
from agentrl.agents.generation import Completion, GenerationBackend, SamplingParams
from agentrl.agents.types import Trajectory
from agentrl.trainer import distributed
from agentrl.trainer.policy import Policy

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "agentrl.algorithms"


@dataclass(frozen=True)
class Needs:
    """What an algorithm needs the loop to build or supply."""

    value_head: bool = False
    """A token-level value head on the policy (PPO, ArCHer's token baseline)."""
    reference: bool = False
    """A frozen reference policy (KL penalties)."""
    critic: bool = False
    """An utterance-level critic the algorithm builds itself (ArCHer, Digi-Q); recorded for ``agentrl algos``."""
    replay: bool = False
    """A replay buffer kept across iterations (goes into checkpoints with the algorithm's state)."""
    supervised_data: bool = False
    """Demonstrations on disk (supervised fine-tuning, Digi-Q's offline data)."""
    rollouts: bool = True
    """Fresh rollouts every iteration (False: the algorithm learns from its own data; the loop only evaluates)."""


class AlgoConfig(Protocol):
    """What the loop reads from every algorithm config."""

    name: str
    """The ``algo=NAME`` it was composed from."""

    def needs(self) -> Needs:
        """What the loop must build for this algorithm under these settings."""
        ...


class Algorithm(Protocol):
    """What the loop needs from an algorithm."""

    def update(self, trajectories: Sequence[Trajectory], iteration: int) -> dict[str, float]:
        """Learn from one iteration's trajectories; returns statistics to log."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Optimiser states, buffers, critics: what resuming needs beyond the policy's weights."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@dataclass
class AlgoContext:
    """What the loop hands every algorithm besides its config."""

    policy: Policy
    """The policy being trained (with the value head / reference its config asked for)."""
    agent: Agent
    """The rollout agent (an algorithm may read its settings; most never touch it)."""
    backend: GenerationBackend
    """What generates rollouts; :meth:`sample` goes through it."""
    sampling: SamplingParams
    """The rollout's sampling settings (log-probs are taken at ``sampling.temperature``)."""
    pad_id: int
    """The tokenizer's padding id."""
    seed: int
    """The run's seed (minibatch shuffles, critic initialisation, replay sampling)."""
    sync_weights: Callable[[], None]
    """Push the policy's current weights to the backend (a no-op when the backend shares the model)."""
    tokenizer: Any = None
    """The policy's tokenizer (datasets' token ids must come from it)."""
    iterations: int = 1
    """The run's ``train.iterations`` (learning-rate schedules)."""
    eval_env_id: str = ""
    """The env evaluated on (with ``eval_split`` and ``eval_seeds``: data from there is refused)."""
    eval_split: str | None = None
    """The split evaluated on (None: the env has none)."""
    eval_seeds: Sequence[int] = ()
    """The evaluation seeds."""
    train_below: int = 0
    """Training task seeds lie below this (``training_seed_bound``; 0: no bound): data on other seeds is refused
    (an env without splits), since they are evaluation, test or validation seeds."""
    env_factory: Callable[..., Any] | None = None
    """Builds the run's env (keyword arguments override its config's, e.g. ``split``): Digi-Q replays its dataset
    in it to tell which candidate actions the env can parse. None outside the loop."""

    @property
    def temperature(self) -> float:
        return self.sampling.temperature

    def sample(self, prompts: Sequence[Sequence[int]]) -> list[Completion]:
        """Fresh replies of the CURRENT policy: call :attr:`sync_weights` first after a step if the
        backend does not share the model (see ArCHer)."""
        return self.backend.generate(prompts, self.sampling)


@dataclass(frozen=True)
class AlgorithmSpec:
    """One row of the table."""

    name: str
    """``algo=NAME``."""
    config: type
    """The config dataclass (its schema is stored as ``<name>_schema`` in the ``algo`` group)."""
    algorithm: Callable[..., Algorithm]
    """Built as ``algorithm(config, ctx)``."""
    summary: str
    """One line for ``agentrl algos``."""
    module: str
    """Where it is defined."""


_TABLE: dict[str, AlgorithmSpec] = {}


def register_algorithm(
    name: str, config: type, *, summary: str, aliases: Sequence[tuple[str, str]] = ()
) -> Callable[[type], type]:
    """Class decorator: add an algorithm to the table (see the module docstring).

    Args:
        name: ``algo=NAME``.
        config: Its config dataclass.
        summary: One line for ``agentrl algos``.
        aliases: ``(name, summary)`` pairs of other names served by the same classes with
            other settings (GRPO's estimators: rloo, gigpo, ...); each has its own YAML file.
    """

    def add(cls: type) -> type:
        for key, line in ((name, summary), *aliases):
            existing = _TABLE.get(key)
            if existing is not None and (existing.config, existing.algorithm) != (config, cls):
                # A module imported twice under two names registers equal classes twice; anything else is a clash.
                if (existing.config.__qualname__, existing.algorithm.__qualname__) != (
                    config.__qualname__,
                    cls.__qualname__,
                ):
                    raise ValueError(f"algorithm {key!r} is already registered by {existing.module}")
            _TABLE[key] = AlgorithmSpec(key, config, cls, line, cls.__module__)
            _store_schema(key, config)
        return cls

    return add


def _store_schema(name: str, config: type) -> None:
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(name=f"{name}_schema", node=config, group="algo")


@functools.cache
def _load_builtins() -> None:
    import agentrl.trainer as package

    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{module.name}")
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            importlib.import_module(entry.value.split(":")[0])
        except Exception as err:  # a broken plugin must not take the built-in algorithms down
            logger.warning("algorithm plugin %s (%s) failed to import: %s", entry.name, entry.value, err)


def algorithm_table() -> dict[str, AlgorithmSpec]:
    """Every registered algorithm, by name."""
    _load_builtins()
    return dict(sorted(_TABLE.items()))


def spec_for(config: Any) -> AlgorithmSpec:
    """The table row of an algorithm config (by its ``name``)."""
    table = algorithm_table()
    spec = table.get(config.name)
    if spec is None or not isinstance(config, spec.config):
        raise ValueError(
            f"no algorithm for {type(config).__name__}(name={config.name!r}); "
            f"pick algo= one of {', '.join(table)} (agentrl algos lists them)"
        )
    return spec


def build_algorithm(config: Any, ctx: AlgoContext) -> Algorithm:
    """The algorithm ``config`` describes, built on ``ctx``."""
    return spec_for(config).algorithm(config, ctx)


def optimizer_step(
    optimizer: torch.optim.Optimizer, parameters: Sequence[torch.nn.Parameter], max_grad_norm: float | None
) -> float:
    """Finish one optimiser step: average gradients over data-parallel ranks, clip, step.

    Every algorithm's every step goes through here, so none can forget the all-reduce.
    Returns the gradient norm before clipping (``inf``-clipped: the plain norm, when
    ``max_grad_norm`` is None).
    """
    distributed.average_gradients(parameters)
    limit = max_grad_norm if max_grad_norm else float("inf")
    # Sharded weights (train.strategy=fsdp): the optimiser's own parameters, which hold the reduced gradient shards
    # (the module may hold gathered stand-ins for some of them between passes).
    stepped = [p for group in optimizer.param_groups for p in group["params"]]
    if any(isinstance(p, DTensor) for p in stepped):
        from agentrl.trainer.sharded import clip_grad_norm

        norm = clip_grad_norm(stepped, limit)
    else:
        norm = float(torch.nn.utils.clip_grad_norm_(parameters, limit))
    optimizer.step()
    return norm
