"""The Werewolf arena's counts: win rates by side, and invalid actions by the decision they failed."""

from __future__ import annotations

from agentrl.agents.scripted import ExpertAgent
from agentrl.envs.werewolf import WerewolfEnv
from agentrl.trainer.werewolf import arena


class _Stumbling(ExpertAgent):
    """The rule player, writing nonsense before every third move."""

    def _choose(self, episode):
        return "I am not sure." if episode.steps % 3 == 0 else super()._choose(episode)


def test_arena_counts_each_sides_invalid_actions_by_decision():
    result = arena(lambda: WerewolfEnv(max_days=2), _Stumbling(), ExpertAgent(), range(4), concurrency=2)
    summary = result.summary()
    assert summary["games"] == 4 and summary["invalid_by_decision"]["village"] == {}
    wolves = summary["invalid_by_decision"]["werewolves"]
    assert set(wolves) <= {"kill", "say", "vote"} and "kill" in wolves  # a werewolf's first move is the night kill
    assert summary["invalid_rate"]["werewolves"] > 0 and summary["invalid_rate"]["village"] == 0
