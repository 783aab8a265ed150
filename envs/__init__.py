"""The ground of agentrl: the text-env contract, registration, checkers, env families.

Importing this package registers the built-in envs with Gymnasium (cheaply: entry
points are strings, so no env family is imported until it is made).
"""

from __future__ import annotations

from agentrl.envs.base import TextEnv
from agentrl.envs.registration import EnvEntry, make, register, registered, spec
from agentrl.envs.spaces import TextSpace

__all__ = ["EnvEntry", "TextEnv", "TextSpace", "make", "register", "registered", "spec"]

register(
    "agentrl/BabyAI-v0",
    "agentrl.envs.minigrid:MiniGridTextEnv",
    description="BabyAI levels (any of the 96, default GoToLocal) as egocentric text; BabyAI bot expert",
    kwargs={"level": "BabyAI-GoToLocal-v0"},
)
register(
    "agentrl/MiniGrid-v0",
    "agentrl.envs.minigrid:MiniGridTextEnv",
    description="Any MiniGrid id (default DoorKey-5x5) as egocentric text; BabyAI bot expert where the level has one",
    kwargs={"level": "MiniGrid-DoorKey-5x5-v0"},
)
register(
    "agentrl/Sokoban-v0",
    "agentrl.envs.sokoban:SokobanEnv",
    description="Sokoban rooms from a reverse-play generator (always solvable); solver expert",
    max_episode_steps=100,
)
register(
    "agentrl/FrozenLake-v0",
    "agentrl.envs.frozenlake:FrozenLakeTextEnv",
    description="Gymnasium's FrozenLake on seeded random maps as a text grid; value-iteration expert",
    max_episode_steps=100,
)
register(
    "agentrl/GuessNumber-v0",
    "agentrl.envs.guess:GuessNumberEnv",
    description="Guess a secret number from too-low/too-high feedback (information seeking); bisection expert",
    max_episode_steps=50,
)
register(
    "agentrl/TwentyQuestions-v0",
    "agentrl.envs.twenty_questions.env:TwentyQuestionsEnv",
    description="Twenty Questions on 263 objects, a scripted yes/no oracle (information seeking); max-entropy expert",
    max_episode_steps=60,
)
register(
    "agentrl/TextWorld-v0",
    "agentrl.envs.textworld_env:TextWorldEnv",
    description="TextWorld games (custom, cooking, simple) generated offline by tw-make and cached; policy expert",
    max_episode_steps=50,
)
register(
    "agentrl/ALFWorld-v0",
    "agentrl.envs.alfworld.env:AlfworldEnv",
    description="ALFWorld household tasks (six types) on its PDDL engine, generated from its scenes or official files",
    max_episode_steps=50,
)
register(
    "agentrl/ScienceWorld-v0",
    "agentrl.envs.scienceworld_env:ScienceWorldEnv",
    description="ScienceWorld's 30 tasks on their train/dev/test variations, raw-simulator steps; gold-path expert",
    max_episode_steps=100,
)
register(
    "agentrl/WebShop-v1",
    "agentrl.envs.webshop.env:WebShopEnv",
    description="WebShop re-implemented over a generated catalogue: search, browse and buy; BM25, original reward",
    max_episode_steps=15,
)
register(
    "agentrl/WebShop-Browser-v1",
    "agentrl.envs.webshop.browser:WebShopBrowserEnv",
    description="WebShop served over HTTP and driven in headless Chromium: accessibility-tree text, screenshots",
    max_episode_steps=15,
)
register(
    "agentrl/TicTacToe-v0",
    "agentrl.envs.tictactoe:TicTacToeEnv",
    description="Two-player tic-tac-toe as a PettingZoo AEC text env; minimax expert",
    multi_agent=True,
)
register(
    "agentrl/Werewolf-v0",
    "agentrl.envs.werewolf.env:WerewolfEnv",
    description="Werewolf (7 seats: 2 werewolves, seer, doctor, 3 villagers) as a PettingZoo AEC text env; rule expert",
    multi_agent=True,
)
register(
    "agentrl/Coq-v0",
    "agentrl.envs.coq.env:CoqEnv",
    description="Prove theorems in Coq one tactic at a time (65 graded theorems or a folder of .v files); coqc-checked",
    max_episode_steps=50,
)
register(
    "agentrl/Device-v0",
    "agentrl.envs.device.env:DeviceEnv",
    description="A phone in headless Chromium: 5 apps, 31 AndroidWorld-style tasks, AitW actions; state-checked",
    max_episode_steps=30,
)
register(
    "agentrl/MiniWoB-v0",
    "agentrl.envs.miniwob.env:MiniWoBEnv",
    description="MiniWoB++'s bundled HTML tasks (task=...) in headless Chromium, AitW actions, MiniWoB's own reward",
    max_episode_steps=10,
)
