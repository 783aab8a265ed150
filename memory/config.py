"""Settings of the case memory (``memory=on`` in ``agentrl eval`` and ``agentrl train``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RetrieverConfig:
    """How cases are chosen for a task: cosine top-K, or AgentFly's learned Q(s, case)."""

    kind: str = "cosine"
    """``cosine`` (the K most similar cases) or ``learned`` (a Q network scores the ``candidates`` most similar
    cases; trained online from outcomes, checkpointed next to the bank)."""
    k: int = 4
    """Cases shown to the agent per task (AgentFly's K = 4)."""
    candidates: int = 32
    """Cases the learned retriever scores (the most cosine-similar ones)."""
    sample: bool = False
    """Draw the K cases from softmax(Q/alpha) instead of taking the top K (``agentrl train`` samples in its
    rollouts and takes the top K in evaluation)."""
    alpha: float = 1.0
    """Temperature of softmax(Q/alpha) and of the soft-Q target (BCE logits: a lower one stops exploring early)."""
    loss: str = "bce"
    """``bce`` (single-step: sigmoid(Q) predicts success) or ``soft_q`` (TD target r + gamma * alpha *
    logsumexp(Q(s', c')/alpha), s' the next subtask of a planner-executor episode; r at the last)."""
    gamma: float = 0.9
    """Discount of the soft-Q target."""
    lr: float = 1e-3
    """Adam learning rate of the Q network."""
    hidden: int = 128
    """Width of the Q network's hidden layers."""
    batch_size: int = 32
    """(task, case, outcome) triples per gradient step."""
    updates_per_episode: int = 2
    """Gradient steps after each finished episode (online learning)."""
    buffer_size: int = 4096
    """Most recent triples kept for those steps."""
    seed: int = 0
    """Seeds the Q network's initialisation, its minibatches and the sampling."""


@dataclass
class MemoryConfig:
    """AgentFly's case memory: retrieve past cases into the prompt, write one after every episode."""

    enabled: bool = False
    """Wrap the agent in the memory (``memory=on`` sets it)."""
    path: str = "runs/memory/cases.sqlite"
    """The case bank (SQLite, shared by every run and process that names it)."""
    encoder: str = "minilm"
    """Task embeddings: ``minilm`` (the packaged all-MiniLM-L6-v2) or ``hash`` (hashed words; no model)."""
    read: bool = True
    """Retrieve cases into the prompt."""
    write: bool = True
    """Write a case after every episode (``agentrl train`` writes from training rollouts only, never from its
    evaluation episodes)."""
    same_env: bool = True
    """Retrieve only cases of the env being played."""
    key: str = "task"
    """What a case is retrieved by: ``task`` (the instruction; the first observation when the env gives none) or
    ``task_and_observation`` (both: for envs whose tasks differ only in their first observation)."""
    prompt_fraction: float = 0.25
    """Most of the agent's prompt budget the retrieved cases may take (cases that do not fit are left out, the
    least relevant first)."""
    case_chars: int = 600
    """Most characters of one case's summary in the prompt (cut in the middle)."""
    retriever: RetrieverConfig = field(default_factory=RetrieverConfig)
    """Which cases are shown."""
    planner: bool = False
    """Planner-executor: the model first writes a plan of subtasks (from the plans of retrieved cases), each
    subtask gets its own cases, and the plan is revised every ``replan_every`` turns (LLM agents only)."""
    max_subtasks: int = 4
    """Most subtasks in a plan."""
    replan_every: int = 0
    """Turns between revisions of the plan from what happened (0: never)."""
    source: str = ""
    """Recorded with every case written ('' : the run folder or evaluation that wrote it)."""
