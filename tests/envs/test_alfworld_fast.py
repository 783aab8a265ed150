"""The fast ALFWorld engine plays every game exactly as TextWorld's own ``PddlEnv`` does.

A differential test: the same games of all six task types, the same commands (the
expert's, random admissible ones, invalid ones), through ``FastPddlEnv`` and the reference
``PddlEnv``, both behind ALFWorld's demangler; every state after every reset and step must
be the same (text, admissible commands in order, reward, ``won``, done, facts).
"""

from __future__ import annotations

import json
import random

import pytest

pytest.importorskip("alfworld", reason="needs alfworld: pip install 'agentrl[alfworld]'")

import agentrl
from agentrl.envs.alfworld import engine, fast, tasks
from agentrl.envs.alfworld.expert import AlfworldExpert

INVALID = ("jump", "put apple 1 in fridge 1", "go to the moon", "")


def observed(state):
    """Everything a user of the engine can see in a state."""
    return {
        "feedback": state.feedback,
        "admissible_commands": state["admissible_commands"],
        "valid_commands": state["_valid_commands"],
        "won": state["won"],
        "lost": state["lost"],
        "score": state.get("score"),
        "done": state.get("done"),
        "facts": [str(f) for f in state["_facts"]],
        "command_templates": state["command_templates"],
    }


@pytest.fixture(scope="module")
def engines():
    raws = {kind: engine.acquire(kind) for kind in engine.ENGINES}
    assert isinstance(raws["fast"], fast.FastPddlEnv) and not isinstance(raws["reference"], fast.FastPddlEnv)
    yield {kind: engine.demangled(raw) for kind, raw in raws.items()}
    for raw in raws.values():
        engine.release(raw)


def replay(engines, n_steps, seed, games_per_type=1, revisit=False):
    """Play ``n_steps`` mixed commands over games of every task type through both engines; compare every state."""
    rng = random.Random(seed)
    games = [tasks.generate_game("train", t, i) for i in range(games_per_type) for t in tasks.TASK_TYPES]
    # With revisit, each game twice, interleaved: the fast engine reloads games it has cached.
    order = games + games[::-1] if revisit else games
    per_game = -(-n_steps // len(order))
    steps = 0
    for path in order:
        params = json.loads(path.with_name("traj_data.json").read_text())
        task_type, p = params["task_type"], params["pddl_params"]
        states = {}
        for kind, env in engines.items():
            env.load(str(path))
            states[kind] = env.reset()
        assert observed(states["fast"]) == observed(states["reference"]), (path, "reset")
        expert = AlfworldExpert(task_type, p["object_target"], p.get("parent_target", ""), p.get("toggle_target", ""))
        for _ in range(per_game):
            state = states["reference"]
            admissible = state["admissible_commands"]
            draw = rng.random()
            if draw < 0.05:
                command = rng.choice(INVALID)
            elif draw < 0.4:
                command = rng.choice(admissible)
            else:
                command = expert.act(state["_facts"], engine.names(state), admissible) or rng.choice(admissible)
            for kind, env in engines.items():
                states[kind], _, _ = env.step(command)
            steps += 1
            assert observed(states["fast"]) == observed(states["reference"]), (path, steps, command)
            if states["reference"]["done"]:  # won: start the game again (a cached reset)
                for kind, env in engines.items():
                    states[kind] = env.reset()
                assert observed(states["fast"]) == observed(states["reference"]), (path, steps, "reset")
    return steps


def test_fast_engine_matches_reference_on_every_task_type(engines):
    assert replay(engines, n_steps=100, seed=0) >= 100


@pytest.mark.slow
def test_fast_engine_matches_reference_over_a_thousand_steps(engines):
    assert replay(engines, n_steps=1200, seed=1, games_per_type=2, revisit=True) >= 1000


def test_deriver_memoises_only_state_free_text(engines):
    fast_env = engines["fast"]
    fast_env.load(str(tasks.generate_game("train", "pick_and_place_simple", 0)))
    fast_env.reset()
    deriver = fast_env.unwrapped._deriver
    assert deriver.is_pure("take {o} from {r}") and deriver.is_pure("#PickupObject.feedback#")
    # a query or a condition reads the state
    assert not deriver.is_pure("go to [{r.name | receptacleatlocation(r:receptacle, lend:location)}]")
    assert not deriver.is_pure("#GotoLocation.feedback#") and not deriver.is_pure("#intro#")


def test_env_engine_kwarg_selects_the_engine_and_both_play_alike():
    envs = {kind: agentrl.make("agentrl/ALFWorld-v0", n_games=6, engine=kind) for kind in engine.ENGINES}
    try:
        assert isinstance(envs["fast"].unwrapped._raw, fast.FastPddlEnv)
        assert not isinstance(envs["reference"].unwrapped._raw, fast.FastPddlEnv)
        for seed in (3, 4):
            reset = {kind: env.reset(seed=seed) for kind, env in envs.items()}
            assert reset["fast"] == reset["reference"]
            info = reset["fast"][1]
            for _ in range(5):
                step = {kind: env.step(info["expert_action"]) for kind, env in envs.items()}
                assert step["fast"] == step["reference"]
                info = step["fast"][4]
                if info["expert_action"] is None:
                    break
    finally:
        for env in envs.values():
            env.close()
    with pytest.raises(ValueError, match="unknown ALFWorld engine"):
        agentrl.make("agentrl/ALFWorld-v0", n_games=6, engine="turbo")
