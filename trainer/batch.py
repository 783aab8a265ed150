"""From trajectories to token tensors.

Every turn of a trajectory becomes one training row: its ``prompt_ids`` followed by its
``response_ids``, exactly as the model saw and produced them (never re-tokenized). Rows
are right-padded into a :class:`TokenBatch`. Tensors over tokens are *label-aligned*:
position ``p`` of a ``[B, L-1]`` tensor belongs to token ``p + 1`` of the row, the one
predicted from the first ``p + 1`` tokens. ``response_mask`` is 1 exactly on the tokens
the model generated (verl's convention), so prompts and environment text never enter
a loss.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from agentrl.agents.types import Trajectory, Turn

logger = logging.getLogger(__name__)


@dataclass
class TokenBatch:
    """Right-padded rows of ``prompt + response`` tokens with per-token fields."""

    input_ids: torch.Tensor
    """``[B, L]`` token ids."""
    attention_mask: torch.Tensor
    """``[B, L]`` 1 on real tokens."""
    response_mask: torch.Tensor
    """``[B, L-1]`` (label-aligned) 1 on generated tokens."""
    fields: dict[str, torch.Tensor] = field(default_factory=dict)
    """Label-aligned ``[B, L-1]`` tensors (advantages, old log-probs, returns...) or ``[B]`` per-row values."""

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def select(self, index: torch.Tensor | Sequence[int]) -> TokenBatch:
        """The rows ``index``, trimmed to their longest row."""
        index = torch.as_tensor(index, dtype=torch.long)
        attention = self.attention_mask[index]
        width = max(int(attention.sum(dim=1).max()), 2) if len(index) else 2
        return TokenBatch(
            input_ids=self.input_ids[index, :width],
            attention_mask=attention[:, :width],
            response_mask=self.response_mask[index, : width - 1],
            fields={k: v[index, : width - 1] if v.dim() == 2 else v[index] for k, v in self.fields.items()},
        )

    def lengths(self) -> list[int]:
        """Each row's length in tokens (padding excluded)."""
        return [int(n) for n in self.attention_mask.sum(dim=1)]

    def to(self, device: torch.device | str) -> TokenBatch:
        return TokenBatch(
            self.input_ids.to(device),
            self.attention_mask.to(device),
            self.response_mask.to(device),
            {k: v.to(device) for k, v in self.fields.items()},
        )

    def per_token(self, row_values: torch.Tensor) -> torch.Tensor:
        """Broadcast one value per row onto that row's response tokens (0 elsewhere)."""
        return row_values.to(self.response_mask.dtype).unsqueeze(1) * self.response_mask


def turn_batch(turns: Sequence[Turn], pad_id: int) -> TokenBatch:
    """Pack turns into a :class:`TokenBatch` (one row per turn)."""
    if not turns:
        raise ValueError("no turns to pack")
    rows = [list(turn.prompt_ids) + list(turn.response_ids) for turn in turns]
    width = max(max(len(row) for row in rows), 2)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    response = torch.zeros((len(rows), width - 1), dtype=torch.float32)
    for i, (turn, row) in enumerate(zip(turns, rows, strict=True)):
        input_ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        attention[i, : len(row)] = 1
        start = len(turn.prompt_ids)
        # Token p+1 is predicted at position p: response tokens start..len-1 -> positions start-1..len-2.
        response[i, start - 1 : len(row) - 1] = 1.0
    return TokenBatch(input_ids, attention, response)


def flatten_turns(trajectories: Sequence[Trajectory]) -> tuple[list[Turn], list[tuple[int, int]]]:
    """All turns with a response, and their ``(trajectory index, turn index)``."""
    turns, where = [], []
    for i, trajectory in enumerate(trajectories):
        for t, turn in enumerate(trajectory.turns):
            if turn.response_ids and turn.prompt_ids:
                turns.append(turn)
                where.append((i, t))
    return turns, where


def record_advantages(turns: Sequence[Turn], advantages: torch.Tensor) -> None:
    """Keep each turn's per-token advantages (a batch's ``advantages`` field) on the turn, for ``agentrl view``.

    Row ``r`` of ``advantages`` is ``turns[r]``'s; the value for response token ``k`` sits at position
    ``len(prompt_ids) - 1 + k`` (where the token's log-prob is).
    """
    for row, turn in enumerate(turns):
        start = len(turn.prompt_ids) - 1
        turn.advantages = [round(v, 6) for v in advantages[row, start : start + len(turn.response_ids)].tolist()]


def minibatches(
    n: int, size: int, generator: torch.Generator, weights: Sequence[int] | None = None
) -> list[torch.Tensor]:
    """A seeded random split of ``range(n)`` into chunks of at most ``size``.

    ``weights`` (how many turns each row holds, :func:`pack_turns`): a chunk holds rows of at
    most ``size`` turns in all instead (a row of more goes alone).
    """
    order = torch.randperm(n, generator=generator)
    size = max(size, 1)
    if weights is None:
        return [order[start : start + size] for start in range(0, n, size)]
    chunks = []
    current: list[int] = []
    held = 0
    for row in order.tolist():
        if current and held + weights[row] > size:
            chunks.append(torch.tensor(current, dtype=torch.long))
            current, held = [], 0
        current.append(row)
        held += weights[row]
    if current:
        chunks.append(torch.tensor(current, dtype=torch.long))
    return chunks


def chain_turns(turns: Sequence[Turn]) -> list[list[int]]:
    """Runs of consecutive turns each of whose prompt begins with the turn before's prompt and reply, as indices.

    Such a run is an episode played with its whole history in the prompt (``agent.history=null``): the last turn's
    tokens hold every earlier turn's prompt and reply at the same positions, so a causal model's outputs at those
    positions are the same whether it reads the earlier turn's row or the last one's (:func:`pack_turns`). A turn
    whose prompt was cut or re-rendered starts a new run.
    """
    chains: list[list[int]] = []
    for index, turn in enumerate(turns):
        if chains:
            before = turns[chains[-1][-1]]
            head = len(before.prompt_ids) + len(before.response_ids)
            prompt = turn.prompt_ids
            if (
                len(prompt) >= head
                and list(prompt[: len(before.prompt_ids)]) == list(before.prompt_ids)
                and list(prompt[len(before.prompt_ids) : head]) == list(before.response_ids)
            ):
                chains[-1].append(index)
                continue
        chains.append([index])
    return chains


def pack_turns(batch: TokenBatch, chains: Sequence[Sequence[int]]) -> TokenBatch:
    """One row per chain of :func:`chain_turns`: its last turn's tokens, the response mask and the label-aligned
    fields of all its turns (their responses sit at distinct positions of that row). Row values (``[B]`` fields)
    cannot be packed."""
    last = [chain[-1] for chain in chains]
    packed = batch.select(last)
    width = packed.response_mask.shape[1]
    mask = torch.zeros_like(packed.response_mask)
    for row, chain in enumerate(chains):
        mask[row] = batch.response_mask[list(chain), :width].sum(dim=0)
    fields = {}
    for key, value in batch.fields.items():
        if value.dim() != 2:
            raise ValueError(f"the batch field {key!r} holds one value per turn: turns sharing a row cannot keep it")
        joined = torch.zeros((len(chains), width), dtype=value.dtype)
        for row, chain in enumerate(chains):
            joined[row] = (value[list(chain), :width] * batch.response_mask[list(chain), :width]).sum(dim=0)
        fields[key] = joined
    return TokenBatch(packed.input_ids, packed.attention_mask, mask, fields)


def unpack_turns(values: torch.Tensor, batch: TokenBatch, chains: Sequence[Sequence[int]]) -> torch.Tensor:
    """Per-token ``values`` of :func:`pack_turns`'s rows back on ``batch``'s rows (one per turn), under each turn's
    response mask."""
    out = torch.zeros(batch.response_mask.shape, dtype=values.dtype)
    width = min(values.shape[1], out.shape[1])
    for row, chain in enumerate(chains):
        for turn in chain:
            out[turn, :width] = values[row, :width]
    return out * batch.response_mask.to(values.dtype)


_warned_budgets: set[int] = set()


def micro_batches(lengths: Sequence[int], max_rows: int, max_tokens: int) -> list[list[int]]:
    """Split rows into forward passes of at most ``max_rows`` rows and ``max_tokens`` padded tokens.

    The one micro-batching rule of every algorithm: a pass over rows padded to its longest
    costs ``rows x longest`` tokens of activations (and of vocabulary-wide logits), so
    both are bounded, however long the prompts' history grows. Rows are taken longest
    first, so rows of similar length share a pass and padding stays small. A row longer
    than ``max_tokens`` goes through alone: it is never cut (its prompt is what the model
    saw), and a warning says so once per budget.

    Args:
        lengths: Each row's length in tokens (prompt and response).
        max_rows: Most rows per pass.
        max_tokens: Most ``rows x longest row`` tokens per pass.

    Returns:
        Lists of indices into ``lengths``; together they hold every index once.
    """
    out: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for row in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        if current and (len(current) >= max(max_rows, 1) or longest * (len(current) + 1) > max_tokens):
            out.append(current)
            current = []
        if not current:
            longest = lengths[row]
            if longest > max_tokens and max_tokens not in _warned_budgets:
                _warned_budgets.add(max_tokens)
                logger.warning(
                    "a training row of %d tokens is longer than micro_batch_tokens=%d: it goes through the model "
                    "alone, past the memory budget; keep less history (agent.history) or raise micro_batch_tokens",
                    longest,
                    max_tokens,
                )
        current.append(row)
    if current:
        out.append(current)
    return out


def observation_before(trajectory: Trajectory, t: int) -> str:
    """The raw observation the agent acted on at turn ``t`` (no history)."""
    return trajectory.initial_observation if t == 0 else trajectory.turns[t - 1].observation_text
