"""ALFWorld-v0: generated tasks of every type won by the expert, checked by the package's own tools."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys

import pytest

import agentrl

pytest.importorskip("alfworld", reason="needs alfworld: pip install 'agentrl[alfworld]'")

from agentrl.envs.alfworld import tasks
from agentrl.envs.alfworld.env import AlfworldEnv


def play_expert(env, seed, limit=50):
    _, info = env.reset(seed=seed)
    steps = 0
    while info["expert_action"] is not None and steps < limit:
        _, _, terminated, truncated, info = env.step(info["expert_action"])
        steps += 1
        if terminated or truncated:
            break
    return info, steps


@pytest.mark.parametrize("split", ["train", "eval_unseen"])
@pytest.mark.parametrize("task_type", tasks.TASK_TYPES)
def test_expert_wins_every_task_type(task_type, split):
    env = agentrl.make("agentrl/ALFWorld-v0", task_types=[task_type], split=split, n_games=2)
    try:
        for seed in (0, 1):
            info, steps = play_expert(env, seed)
            assert info["won"] and info["score"] == 1.0, (task_type, split, seed, steps)
            assert env.unwrapped.game.task_type == task_type
    finally:
        env.close()


def test_splits_are_by_scene():
    train, seen, unseen = (set(tasks.scenes_of(s)) for s in tasks.SPLITS)
    assert train == seen and not train & unseen and len(unseen) == 24 and len(train) == 96
    with pytest.raises(ValueError, match="unknown ALFWorld split"):
        tasks.scenes_of("valid")
    # a generated unseen game really lies in a held-out scene
    path = tasks.generate_game("eval_unseen", "pick_and_place_simple", 0)
    scene = json.loads(path.with_name("traj_data.json").read_text())["scene"]["scene_num"]
    assert scene in unseen


def test_scene_reads_the_package_layouts():
    scene = tasks.load_scene(1)  # a kitchen
    types = {r.type for r in scene.receptacles}
    assert {"Fridge", "Microwave", "SinkBasin", "CounterTop", "Cabinet", "StoveBurner", "CoffeeMachine"} <= types
    assert sum(r.type == "StoveBurner" for r in scene.receptacles) == 4
    assert "Apple" in scene.object_types and "Cabinet" not in scene.object_types and "Window" not in scene.object_types
    assert tasks.load_scene.__wrapped__(1) == scene  # deterministic, not only cached


def test_generated_game_is_an_alfworld_game_file():
    path = tasks.generate_game("train", "pick_heat_then_place_in_recep", 0)
    game = json.loads(path.read_text())
    domain, _ = tasks.game_logic()
    assert game["pddl_domain"] == domain and game["solvable"] is True
    traj = json.loads(path.with_name("traj_data.json").read_text())
    assert traj["task_type"] == "pick_heat_then_place_in_recep"
    text = traj["turk_annotations"]["anns"][0]["task_desc"]
    assert f"Your task is to: {text}." in game["grammar"] and "UNKNOWN GOAL" not in game["grammar"]
    assert "(isHot ?o)" in game["pddl_problem"] and "_bar_" in game["pddl_problem"]
    assert 1 <= len(game["walkthrough"]) <= tasks.MAX_PLAN_STEPS


def test_same_seed_same_task_and_another_base_seed_another_pool():
    env = agentrl.make("agentrl/ALFWorld-v0", n_games=12)
    first, info = env.reset(seed=7)
    assert env.reset(seed=7)[0] == first and env.reset(seed=0, options={"task_id": 7})[0] == first
    assert env.reset(seed=8)[1]["task"] != info["task"] or env.reset(seed=8)[0] != first
    other = AlfworldEnv(n_games=12, base_seed=1)
    assert other.game_at(7).path.read_text() != env.unwrapped.game_at(7).path.read_text()
    other.close()
    env.close()


def test_actions_alias_invalid_and_errors():
    env = agentrl.make("agentrl/ALFWorld-v0", task_types=["pick_and_place_simple"], n_games=1)
    _, info = env.reset(seed=0)
    obs, reward, terminated, _, info = env.step("fly to the moon")
    assert info["invalid_action"] and reward == 0 and not terminated and obs.startswith("Invalid action")
    while not info["expert_action"].startswith("move "):
        _, _, _, _, info = env.step(info["expert_action"])
    obj, receptacle = info["expert_action"].removeprefix("move ").split(" to ")
    _, reward, terminated, _, info = env.step(f"Put {obj} in/on {receptacle}.")  # older ALFWorld prompts
    assert not info["invalid_action"] and info["won"] and terminated and reward == 1.0
    env.close()
    with pytest.raises(RuntimeError, match="closed"):
        env.reset(seed=0)
    with pytest.raises(ValueError, match="unknown ALFWorld task types"):
        AlfworldEnv(task_types=["pick_and_place_with_movable_recep"])
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        AlfworldEnv(data_dir="/nonexistent/json_2.1.1")


def test_expert_recovers_from_a_wrong_object_and_an_early_placement():
    env = AlfworldEnv(task_types=["pick_heat_then_place_in_recep"], n_games=1)
    _, info = env.reset(seed=0)
    params = env.game.params
    # Carry the target straight to the goal receptacle, unheated: the goal does not hold,
    # and the expert must take it out again, heat it and bring it back.
    while not info["expert_action"].startswith("heat "):
        _, _, _, _, info = env.step(info["expert_action"])
    held = info["expert_action"].split()[1:3]
    goal = next(a for a in info["admissible_actions"] if a.startswith(f"go to {params['parent_target'].lower()}"))
    _, _, _, _, info = env.step(goal)
    if info["expert_action"].startswith("open "):
        _, _, _, _, info = env.step(info["expert_action"])
    move = next(a for a in info["admissible_actions"] if a.startswith(f"move {' '.join(held)} to "))
    _, _, terminated, _, info = env.step(move)
    assert not terminated and info["expert_action"].startswith("take ")
    # Then pick up something else: the expert puts it down before going on.
    target = " ".join(held)
    for go in [a for a in info["admissible_actions"] if a.startswith("go to ")]:
        _, _, _, _, info = env.step(go)
        others = [a for a in info["admissible_actions"] if a.startswith("take ") and target not in a]
        if others:
            break
    _, _, _, _, info = env.step(others[0])
    assert info["expert_action"].startswith(("move ", "go to ", "open ")) and target not in info["expert_action"]
    steps = 0
    while info["expert_action"] is not None and steps < 30:
        _, _, terminated, _, info = env.step(info["expert_action"])
        steps += 1
        if terminated:
            break
    assert info["won"]
    env.close()


def test_planner_agrees_a_generated_game_is_solvable():
    # fast-downward on a small room (kitchens take the planner seconds to tens of seconds).
    rng = random.Random(0)
    spec = tasks.draw_task(rng, "pick_and_place_simple", (401, 402))
    game = tasks.game_json(spec, "planner_check")
    plan = tasks.planner_plan(game)
    witness = tasks.expert_walkthrough(game, spec)
    assert plan and witness and len(plan) <= len(witness)


def test_the_packages_handcoded_expert_plays_generated_games():
    # ALFWorld's own hand-coded expert reads the traj_data.json beside a game file and
    # explores by observation; it must find its way through our games as through its own.
    import textworld
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler, AlfredExpert, AlfredInfos
    from textworld.envs.pddl import PddlEnv

    random.seed(0)  # the package's expert draws from the global stream
    wins = 0
    for index in range(3):
        path = tasks.generate_game("train", "pick_and_place_simple", index)
        env = PddlEnv(textworld.EnvInfos(won=True, admissible_commands=True, facts=True, extras=["expert_plan"]))
        env = AlfredExpert(AlfredInfos(AlfredDemangler(env, shuffle=False)), expert_type="handcoded")
        env.load(str(path))
        state = env.reset()
        for _ in range(50):
            if state["won"]:
                break
            state, _, _ = env.step(state["extra.expert_plan"][0])
        wins += bool(state["won"])
        env.close()
    assert wins == 3


def test_official_games_load_from_data_dir(tmp_path):
    # ALFWorld's json_2.1.1 layout: <split>/<task>-<params>-<scene>/<trial>/{game.tw-pddl, traj_data.json}.
    root = tmp_path / "json_2.1.1"
    kept = []
    for index, task_type in enumerate(("pick_and_place_simple", "pick_cool_then_place_in_recep")):
        src = tasks.generate_game("eval_seen", task_type, 0)
        trial = root / "valid_seen" / f"{task_type}-Thing-None-Place-{index}" / "trial_T2019_0"
        trial.mkdir(parents=True)
        shutil.copy(src, trial / "game.tw-pddl")
        shutil.copy(src.with_name("traj_data.json"), trial / "traj_data.json")
        kept.append(trial / "game.tw-pddl")
    # what AlfredTWEnv skips: unsolvable games, movable-receptacle tasks, missing traj_data
    unsolvable = root / "valid_seen" / "pick_and_place_simple-X-None-Y-9" / "trial_T1"
    shutil.copytree(kept[0].parent, unsolvable)
    game = json.loads((unsolvable / "game.tw-pddl").read_text())
    (unsolvable / "game.tw-pddl").write_text(json.dumps({**game, "solvable": False}))
    shutil.copytree(kept[0].parent, root / "valid_seen" / "pick_and_place_with_movable_recep-A-B-C-1" / "trial_T1")
    (root / "valid_seen" / "lonely" / "trial").mkdir(parents=True)
    shutil.copy(kept[0], root / "valid_seen" / "lonely" / "trial" / "game.tw-pddl")

    env = agentrl.make("agentrl/ALFWorld-v0", split="eval_seen", data_dir=str(root))
    assert env.unwrapped.n_games == 2
    assert sorted(g.path for g in env.unwrapped._official) == sorted(kept)
    for seed in range(2):
        info, _ = play_expert(env, seed)
        assert info["won"]
    env.close()
    with pytest.raises(FileNotFoundError, match="no solvable ALFWorld games"):
        AlfworldEnv(split="eval_unseen", data_dir=str(root / "valid_seen"), task_types=["look_at_obj_in_light"])


def test_closed_envs_hand_their_engine_to_the_next():
    engines = set()
    for _ in range(5):
        env = AlfworldEnv(n_games=1)
        engines.add(id(env._raw))
        env.close()
        env.close()  # idempotent
    assert len(engines) == 1


@pytest.mark.slow
def test_cli_generates_a_pool_that_data_dir_plays(tmp_path):
    command = [sys.executable, "-m", "agentrl", "alfworld", "generate", "--split", "eval_unseen", "-n", "6"]
    out = subprocess.run(
        [*command, "--out", str(tmp_path / "json_2.1.1")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["games"] == 6 and summary["exported"] == 6
    assert summary["by_task_type"] == dict.fromkeys(tasks.TASK_TYPES, 1)
    assert 1 <= summary["expert_steps_mean"] <= summary["expert_steps_max"] <= tasks.MAX_PLAN_STEPS
    # the exported copy is the official layout: data_dir= plays it, the expert wins every game
    from alfworld.agents.environment.alfred_tw_env import AlfredTWEnv

    config = {
        "env": {"goal_desc_human_anns_prob": 0, "task_types": [1, 2, 3, 4, 5, 6]},
        "dataset": {"eval_ood_data_path": str(tmp_path / "json_2.1.1" / "valid_unseen"), "num_eval_games": -1},
    }
    assert AlfredTWEnv(config, train_eval="eval_out_of_distribution").num_games == 6  # the package's own loader
    env = AlfworldEnv(split="eval_unseen", data_dir=str(tmp_path / "json_2.1.1"))
    assert env.n_games == 6 and {g.task_type for g in env._official} == set(tasks.TASK_TYPES)
    for seed in range(6):
        info, _ = play_expert(env, seed)
        assert info["won"], seed
    env.close()
    bad = subprocess.run(
        [sys.executable, "-m", "agentrl", "alfworld", "generate", "--task-types", "juggle"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0 and "unknown ALFWorld task types" in bad.stderr
