"""MiniGrid and BabyAI levels as text envs.

Wraps any registered ``BabyAI-*`` or ``MiniGrid-*`` id. The observation is the
egocentric description of :mod:`agentrl.envs.minigrid.describer`; the task is the
level's mission; the reward and score are the engine's (``1 - 0.9 * steps / max_steps``
on success); the level's own step limit truncates. The engine's ``done`` action is not
exposed.

The expert is the BabyAI bot (``minigrid.utils.baby_ai_bot``), replanned once after
every engine step as it requires, with three additions:

* a bound on the work of one replan: on some layouts (e.g. ``GoToImpUnlock`` seed 6)
  the bot's planning loop never returns; the expert then gives up for the episode
  instead of hanging the env;
* on levels that start with the agent carrying an object (``PutNext*Carrying``, which
  the bot cannot plan from) the expert drops it first, then hands over to the bot;
* on levels that hide a key in a box (``KeyInBox``, which the bot cannot solve) the
  expert opens the box first, then hands over to the bot.

MiniGrid levels without BabyAI instructions (``instrs``) have no expert. Known limits
(minigrid 3.2, seeds 0-19): the bot cycles on some layouts (6 of 20 ``UnlockToUnlock``
seeds, 2 of 20 ``GoToImpUnlock`` ones) or runs out of steps (``SynthS5R2`` seed 18),
and the two-door missions of ``OpenDoorsOrderN2Debug`` /
``OpenDoorsOrderN4Debug`` cannot be won at all (the level re-checks the toggle that
opens the first door against the second door and fails it), only their one-door ones.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import logging
import threading
from typing import Any, ClassVar, SupportsFloat

import gymnasium
import minigrid  # noqa: F401  (registers the BabyAI-* and MiniGrid-* ids)
from minigrid.core.actions import Actions
from minigrid.utils.baby_ai_bot import BabyAIBot, GoNextToSubgoal

from agentrl.envs.actions import ActionTable
from agentrl.envs.base import TextEnv
from agentrl.envs.minigrid.describer import describe

logger = logging.getLogger(__name__)

_COMMANDS = {
    "turn left": Actions.left,
    "turn right": Actions.right,
    "go forward": Actions.forward,
    "pick up": Actions.pickup,
    "drop": Actions.drop,
    "toggle": Actions.toggle,
}
ACTIONS = ActionTable(
    _COMMANDS,
    aliases={
        "left": "turn left",
        "turn to the left": "turn left",
        "right": "turn right",
        "turn to the right": "turn right",
        "forward": "go forward",
        "move forward": "go forward",
        "pickup": "pick up",
        "pick it up": "pick up",
        "pick up the object": "pick up",
        "drop it": "drop",
        "open": "toggle",
        "open door": "toggle",
        "open the door": "toggle",
    },
)
"""The six actions (``turn left``, ``turn right``, ``go forward``, ``pick up``, ``drop``,
``toggle``) and their accepted aliases."""

_ACTION_NAME = {int(command): name for name, command in _COMMANDS.items()}
_PREFIXES = ("BabyAI-", "MiniGrid-")
# BabyAI's level generator prints every rejected sample; swapping sys.stdout is
# process-wide, so envs stepped from several threads must take turns.
_STDOUT_LOCK = threading.Lock()


def level_ids() -> list[str]:
    """Every registered ``BabyAI-*`` and ``MiniGrid-*`` id, sorted."""
    return sorted(env_id for env_id in gymnasium.registry if env_id.startswith(_PREFIXES))


class BotStuckError(RuntimeError):
    """The BabyAI bot searched too long for one action (its planning loop can cycle)."""


class _Bot(BabyAIBot):
    """The BabyAI bot with a bound on the path searches of a single ``replan``.

    Normal replans run a few dozen breadth-first searches (one per candidate object);
    on some layouts the subgoal stack cycles forever, each turn running a search.
    """

    max_searches_per_replan = 250

    def __init__(self, engine: Any):
        self._searches = 0
        super().__init__(engine)

    def replan(self, action_taken: Any = None) -> Any:
        self._searches = 0
        return super().replan(action_taken)

    def _breadth_first_search(self, initial_states: Any, accept_fn: Any, ignore_blockers: bool) -> Any:
        self._searches += 1
        if self._searches > self.max_searches_per_replan:
            raise BotStuckError(f"no action after {self.max_searches_per_replan} path searches")
        return super()._breadth_first_search(initial_states, accept_fn, ignore_blockers)


class MiniGridTextEnv(TextEnv[int]):
    """A BabyAI or MiniGrid level as text.

    Args:
        level: A ``BabyAI-*`` or ``MiniGrid-*`` id; ``level_ids()`` lists them all.
        expert: Run the BabyAI bot and put its action in ``info["expert_action"]``.
        render_mode: See :class:`~agentrl.envs.base.TextEnv`.
        image: Put the engine's RGB frame (an ``(h, w, 3)`` uint8 array) in
            ``info["image"]``; costs a render per step.

    Attributes:
        engine: The unwrapped MiniGrid env.
    """

    instructions: ClassVar[str] = (
        "You are an agent in a grid world seen from your own point of view: each line says what you see and how many "
        "steps left, right or forward it is. Reply with one action: turn left, turn right, go forward, pick up (the "
        "object right in front of you), drop (what you carry, in front of you) or toggle (open the door or box in "
        "front of you; a locked door needs the key of its colour)."
    )

    def __init__(
        self,
        level: str = "BabyAI-GoToLocal-v0",
        *,
        expert: bool = True,
        render_mode: str | None = None,
        image: bool = False,
    ):
        super().__init__(expert=expert, render_mode=render_mode)
        if not isinstance(level, str) or not level.startswith(_PREFIXES) or level not in gymnasium.registry:
            close = difflib.get_close_matches(str(level), level_ids(), n=5, cutoff=0.6)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ValueError(
                f"unknown MiniGrid/BabyAI level {level!r}.{hint} List the valid ids with: "
                "python -c 'from agentrl.envs.minigrid import level_ids; print(*level_ids(), sep=chr(10))'"
            )
        self.level = level
        self.image = image
        self.engine: Any = gymnasium.make(level).unwrapped
        self._obs: dict[str, Any] = {}
        self._last_action: int | None = None
        self._over = False
        # Expert state: the bot, and the phase before it takes over ("drop", "unbox").
        self._bot: _Bot | None = None
        self._phase: str | None = None
        self._box: Any = None

    # ------------------------------------------------------------------ engine
    def _engine_reset(self, seed: int, options: dict[str, Any]) -> None:
        with _STDOUT_LOCK, contextlib.redirect_stdout(io.StringIO()) as printed:
            self._obs, _ = self.engine.reset(seed=int(options.get("task_id", seed)))
        if printed.getvalue():
            logger.debug("%s printed while generating seed %s: %s", self.level, seed, printed.getvalue().strip())
        self.task = str(self._obs["mission"])
        self._last_action = None
        self._over = False
        self._bot, self._phase, self._box = None, None, None
        if self.expert:
            self._start_expert()

    def _engine_step(self, command: int) -> tuple[SupportsFloat, bool, bool]:
        self._obs, reward, terminated, truncated, _ = self.engine.step(command)
        self._last_action = command
        self._over = bool(terminated or truncated)
        if terminated:
            self.won = float(reward) > 0
            self.score = float(reward)
        return reward, terminated, truncated

    def _render(self) -> str:
        sentences = describe(self._obs["image"], self.engine.carrying)
        return "\n".join(sentences) if sentences else "You see nothing but floor around you."

    def parse_action(self, action: str) -> int | None:
        return ACTIONS.match(action)

    def _admissible(self) -> list[str]:
        return list(ACTIONS.names)

    def _info(self, invalid: bool) -> dict[str, Any]:
        info = super()._info(invalid)
        if self.image:
            info["image"] = self.engine.get_frame(highlight=self.engine.highlight)
        return info

    def close(self) -> None:
        """Close the engine."""
        self.engine.close()
        super().close()

    # ------------------------------------------------------------------ expert
    def _start_expert(self) -> None:
        if not hasattr(self.engine, "instrs"):
            return  # a MiniGrid level: no instructions for the bot to plan from
        if self.engine.carrying is not None:
            self._phase = "drop"
            return
        box = next((obj for obj in self.engine.grid.grid if _holds_key(obj)), None)
        if box is not None:
            # The bot never looks inside boxes: walk it next to the box, then toggle it open.
            self._phase, self._box = "unbox", box
            self._bot = self._guarded(lambda: _Bot(self.engine))
            if self._bot is not None:
                self._bot.stack = [GoNextToSubgoal(self._bot, box)]
            return
        self._bot = self._guarded(lambda: _Bot(self.engine))

    def _compute_expert(self) -> str | None:
        if self._over or (self._bot is None and self._phase is None):
            return None
        action = self._last_action
        if self._phase == "drop":
            if self.engine.carrying is not None:
                return "drop" if self.engine.grid.get(*self.engine.front_pos) is None else "turn left"
            self._phase, action = None, None
            self._bot = self._guarded(lambda: _Bot(self.engine))
        elif self._phase == "unbox":
            if self.engine.carrying is self._box:
                self._bot, self._phase = None, None  # carried off unopened: beyond this expert
                return None
            if self.engine.grid.get(*self._box.cur_pos) is not self._box:
                # Opened (by us or the agent): the key lies where the box was.
                self._phase, self._box, action = None, None, None
                self._bot = self._guarded(lambda: _Bot(self.engine))
        if self._bot is None:
            return None
        bot = self._bot
        suggestion = self._guarded(lambda: bot.replan(action))
        if suggestion is None:
            self._bot = None
            return None
        if suggestion == Actions.done and self._phase == "unbox":
            return "toggle" if self.engine.grid.get(*self.engine.front_pos) is self._box else None
        return _ACTION_NAME.get(int(suggestion))

    def _guarded(self, call: Any) -> Any:
        """``call()``, or None (logged) when the bot fails: the episode goes on without an expert."""
        try:
            return call()
        except Exception as err:  # the bot asserts, raises or cycles on some layouts
            logger.info("BabyAI bot gave up on %s (task %r): %r", self.level, self.task, err)
            return None


def _holds_key(obj: Any) -> bool:
    return obj is not None and obj.type == "box" and getattr(obj.contains, "type", None) == "key"
