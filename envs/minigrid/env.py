"""MiniGrid and BabyAI levels as text envs.

Wraps any registered ``BabyAI-*`` or ``MiniGrid-*`` id. The observation is the
egocentric description of :mod:`agentrl.envs.minigrid.describer`; the task is the
level's mission; the reward and score are the engine's (``1 - 0.9 * steps / max_steps``
on success); the level's own step limit truncates. On BabyAI levels the BabyAI bot
(``minigrid.utils.baby_ai_bot``) is the expert, replanned after every engine step as
it requires; MiniGrid levels without BabyAI instructions have no expert.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import logging
from typing import Any, SupportsFloat

import gymnasium
import minigrid  # noqa: F401  (registers the BabyAI-* and MiniGrid-* ids)
from minigrid.core.actions import Actions

from agentrl.envs.actions import ActionTable
from agentrl.envs.base import TextEnv
from agentrl.envs.minigrid.describer import describe

logger = logging.getLogger(__name__)

ACTIONS = ActionTable(
    {
        "turn left": Actions.left,
        "turn right": Actions.right,
        "go forward": Actions.forward,
        "pick up": Actions.pickup,
        "drop": Actions.drop,
        "toggle": Actions.toggle,
    },
    aliases={
        "left": "turn left",
        "right": "turn right",
        "forward": "go forward",
        "move forward": "go forward",
        "pickup": "pick up",
        "pick up the object": "pick up",
        "open": "toggle",
        "open door": "toggle",
        "open the door": "toggle",
    },
)
_ACTION_NAME = {int(command): name for name, command in zip(ACTIONS.names, ACTIONS._exact.values(), strict=True)}


def _new_bot(engine: Any) -> Any:
    from minigrid.utils.baby_ai_bot import BabyAIBot

    return BabyAIBot(engine)


def level_ids() -> list[str]:
    """Every registered BabyAI and MiniGrid id."""
    return sorted(i for i in gymnasium.registry if i.startswith(("BabyAI-", "MiniGrid-")))


class MiniGridTextEnv(TextEnv[int]):
    """A BabyAI or MiniGrid level as text.

    Args:
        level: A ``BabyAI-*`` or ``MiniGrid-*`` id (``agentrl envs`` lists the families;
            ``agentrl.envs.minigrid.level_ids()`` lists them all).
        image: Put the rendered RGB frame in ``info["image"]`` (costs a render per step).
        expert: Run the BabyAI bot and put its action in ``info["expert_action"]``.
        render_mode: See :class:`~agentrl.envs.base.TextEnv`.
    """

    def __init__(
        self,
        level: str = "BabyAI-GoToLocal-v0",
        *,
        image: bool = False,
        expert: bool = True,
        render_mode: str | None = None,
    ):
        super().__init__(expert=expert, render_mode=render_mode)
        if level not in gymnasium.registry or not level.startswith(("BabyAI-", "MiniGrid-")):
            close = difflib.get_close_matches(level, level_ids(), n=5, cutoff=0.5)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ValueError(
                f"unknown MiniGrid/BabyAI level {level!r}.{hint} "
                "All ids: python -c 'from agentrl.envs.minigrid import level_ids; print(level_ids())'"
            )
        self.level = level
        self.image = image
        self.engine: Any = gymnasium.make(level, render_mode="rgb_array" if image else None).unwrapped
        self._obs: dict[str, Any] = {}
        self._bot: Any = None
        self._last_action: int | None = None

    def _engine_reset(self, seed: int, options: dict[str, Any]) -> None:
        # BabyAI's level generator prints every rejected sample; keep stdout for the agent.
        with contextlib.redirect_stdout(io.StringIO()):
            self._obs, _ = self.engine.reset(seed=int(options.get("task_id", seed)))
        self.task = self._obs["mission"]
        self._last_action = None
        self._bot = None
        # The bot cannot plan while the agent starts out carrying something (the
        # PutNext*Carrying levels): the expert drops it first, then hands over to the bot.
        self._drop_first = self.engine.carrying is not None
        if self.expert and hasattr(self.engine, "instrs") and not self._drop_first:
            self._bot = _new_bot(self.engine)

    def _engine_step(self, command: int) -> tuple[SupportsFloat, bool, bool]:
        self._obs, reward, terminated, truncated, _ = self.engine.step(command)
        self._last_action = command
        if terminated:
            self.won = reward > 0
            self.score += float(reward)
        return reward, terminated, truncated

    def _render(self) -> str:
        sentences = describe(self._obs["image"], self.engine.carrying)
        return "\n".join(sentences) if sentences else "You see nothing but floor around you."

    def parse_action(self, action: str) -> int | None:
        return ACTIONS.match(action)

    def _admissible(self) -> list[str]:
        return list(ACTIONS.names)

    def _compute_expert(self) -> str | None:
        if self._drop_first and hasattr(self.engine, "instrs") and not self.won:
            if self.engine.carrying is None:
                self._drop_first, self._last_action = False, None
                self._bot = _new_bot(self.engine)
            else:
                front = self.engine.grid.get(*self.engine.front_pos)
                return "drop" if front is None else "turn left"
        if self._bot is None or self.won:
            return None
        try:
            suggestion = self._bot.replan(self._last_action)
        except Exception as err:  # the bot gives up on some layouts; the episode goes on
            logger.debug("BabyAI bot failed on %s: %r", self.level, err)
            self._bot = None
            return None
        return _ACTION_NAME.get(int(suggestion))

    def _info(self, invalid: bool) -> dict[str, Any]:
        info = super()._info(invalid)
        if self.image:
            info["image"] = self.engine.get_frame(highlight=True)
        return info

    def close(self) -> None:
        self.engine.close()
