"""Sokoban: the generator only makes solvable rooms, the solver and expert solve them,
and the grid, rewards and invalid actions follow the RAGEN conventions."""

from __future__ import annotations

import numpy as np
import pytest

import agentrl.envs
from agentrl.envs.sokoban import Room, SokobanEnv, SokobanGame, generate_room, solve
from agentrl.envs.sokoban import env as sokoban_env
from agentrl.envs.sokoban import generator as sokoban_generator

CONFIGS = [((6, 6), 1), ((7, 7), 2), ((8, 8), 2), ((8, 8), 3)]
DIRECTIONS = ["up", "down", "left", "right"]


def parse(text: str) -> Room:
    """A room from its text drawing."""
    walls, targets, boxes, player = set(), set(), set(), None
    rows = text.strip().splitlines()
    for r, row in enumerate(rows):
        for c, ch in enumerate(row):
            if ch == "#":
                walls.add((r, c))
            if ch in "O√S":
                targets.add((r, c))
            if ch in "X√":
                boxes.add((r, c))
            if ch in "PS":
                player = (r, c)
    return Room(frozenset(walls), frozenset(targets), frozenset(boxes), player, (len(rows), len(rows[0])))


def replay(room: Room, moves: list[str]) -> SokobanGame:
    game = SokobanGame(room)
    for move in moves:
        game.step(move)
    return game


def count_solver_calls(monkeypatch) -> list[int]:
    """Count the env's calls to the solver (the generator's own check is not counted)."""
    calls = [0]

    def counting(*args, **kwargs):
        calls[0] += 1
        return solve(*args, **kwargs)

    monkeypatch.setattr(sokoban_env, "solve", counting)
    return calls


@pytest.mark.parametrize(("dim", "boxes"), CONFIGS)
def test_generated_rooms_are_deterministic_and_solvable(dim, boxes):
    for seed in range(25):
        room, plan = generate_room(seed, dim, boxes)
        assert generate_room(seed, dim, boxes) == (room, plan)
        assert generate_room(np.random.default_rng(seed), dim, boxes) == (room, plan)
        assert len(room.boxes) == len(room.targets) == boxes and room.shape == dim
        assert not room.boxes & room.targets  # reverse play moved every box
        border = {(r, c) for r in range(dim[0]) for c in range(dim[1]) if r in (0, dim[0] - 1) or c in (0, dim[1] - 1)}
        assert border <= room.walls
        assert replay(room, plan).solved
        independent = solve(room.walls, room.targets, room.boxes, room.player)
        assert independent is not None and len(independent) > 0 and replay(room, independent).solved
    assert len({generate_room(seed, dim, boxes)[0] for seed in range(10)}) > 5


def test_reverse_play_steps_are_configurable():
    rooms = {generate_room(0, (7, 7), 2, num_steps)[0] for num_steps in (10, 40, 200)}
    assert len(rooms) > 1
    env = SokobanEnv(dim_room=(7, 7), num_boxes=2, num_gen_steps=10)
    obs, _ = env.reset(seed=0)
    assert obs.count("X") + obs.count("√") == 2 and len(obs.splitlines()) == 7


@pytest.mark.parametrize(("dim", "boxes"), CONFIGS)
def test_expert_wins_seeded_instances_of_every_config(dim, boxes):
    env = agentrl.envs.make("agentrl/Sokoban-v0", dim_room=dim, num_boxes=boxes)
    for seed in range(10):
        _, info = env.reset(seed=seed)
        total = 0.0
        for _ in range(100):
            _, reward, terminated, truncated, info = env.step(info["expert_action"])
            total += reward
            if terminated or truncated:
                break
        assert info["won"] and terminated and not truncated, (dim, boxes, seed)
        assert reward >= 10 + 1 - 0.1 - 1e-9 and info["expert_action"] is None
        assert info["score"] == pytest.approx(total)


def test_the_expert_does_not_replan_while_followed(monkeypatch):
    calls = count_solver_calls(monkeypatch)
    env = SokobanEnv(dim_room=(8, 8), num_boxes=3)
    _, info = env.reset(seed=4)
    while not info["won"]:
        *_, info = env.step(info["expert_action"])
    assert calls[0] == 0  # the generator's plan is reused, then followed


def test_wall_bumps_keep_the_plan_and_straying_replans(monkeypatch):
    calls = count_solver_calls(monkeypatch)
    env = SokobanEnv(room=parse("#######\n#P____#\n#_X___#\n#__O__#\n#######"))
    _, info = env.reset(seed=0)
    assert calls[0] == 1 and info["expert_action"] is not None
    first = info["expert_action"]
    _, reward, *_, info = env.step("up")  # into the wall: nothing moves
    assert reward == pytest.approx(-0.1) and calls[0] == 1 and info["expert_action"] == first
    env.step("right")
    _, _, _, _, info = env.step("right")  # two steps off the plan: replanned from here
    assert calls[0] >= 2 and info["expert_action"] is not None
    while not info["won"]:
        *_, info = env.step(info["expert_action"])
    assert info["won"]


def test_expert_gives_up_on_a_dead_room_without_searching_again(monkeypatch):
    calls = count_solver_calls(monkeypatch)
    env = SokobanEnv(room=parse("######\n#____#\n#_XP_#\n#___O#\n######"))
    _, info = env.reset(seed=0)
    assert info["expert_action"] is not None
    *_, info = env.step("left")  # pushes the box against the left wall, away from the target's column
    assert info["expert_action"] is None and not info["won"]
    searched = calls[0]
    for move in ["down", "right", "up", "up"]:  # walking about cannot free the box
        *_, info = env.step(move)
        assert info["expert_action"] is None
    assert calls[0] == searched


ROOM = """
######
#_P__#
#_X__#
#_O__#
######
"""


def test_rendering_symbols_and_the_solve_bonus():
    env = SokobanEnv(room=parse(ROOM))
    obs, info = env.reset(seed=0)
    assert obs == ROOM.strip() and "X" in info["task"] and "O" in info["task"]
    assert info["admissible_actions"] == DIRECTIONS
    obs, reward, terminated, truncated, info = env.step("down")
    assert obs.splitlines()[2:4] == ["#_P__#", "#_√__#"]
    assert terminated and not truncated and info["won"]
    assert reward == pytest.approx(-0.1 + 1 + 10) and info["score"] == pytest.approx(10.9)
    env = SokobanEnv(room=parse("#####\n#PO_#\n#_X_#\n#___#\n#####"))
    env.reset(seed=0)
    obs, reward, *_ = env.step("right")
    assert obs.splitlines()[1] == "#_S_#" and reward == pytest.approx(-0.1)
    obs, *_ = env.step("right")
    assert obs.splitlines()[1] == "#_OP#"


def test_push_on_and_off_targets():
    env = SokobanEnv(room=parse("#######\n#_P___#\n#_√___#\n#_____#\n#_____#\n#######"))
    env.reset(seed=0)
    obs, reward, terminated, _, info = env.step("down")  # the box leaves its target
    assert reward == pytest.approx(-0.1 - 1) and not terminated and not info["won"]
    assert obs.splitlines()[2:4] == ["#_S___#", "#_X___#"]
    for move in ["right", "down", "down", "left"]:  # walk round to below the box
        _, reward, terminated, *_ = env.step(move)
        assert reward == pytest.approx(-0.1) and not terminated
    obs, reward, terminated, _, info = env.step("up")  # back onto the target: solved
    assert reward == pytest.approx(-0.1 + 1 + 10) and terminated and info["won"]
    assert obs.splitlines()[2:4] == ["#_√___#", "#_P___#"]
    assert info["score"] == pytest.approx(-1.1 - 0.4 + 10.9)
    game = SokobanGame(parse("#######\n#_P___#\n#_√___#\n#_O___#\n#_____#\n#___X_#\n#######"))
    assert game.step("down") == pytest.approx(-0.1 - 1 + 1)  # off one target onto another


def test_walls_and_stuck_boxes_stop_the_player():
    game = SokobanGame(parse("#####\n#P__#\n#X__#\n#X_O#\n#O__#\n#####"))
    assert game.step("up") == pytest.approx(-0.1) and game.player == (1, 1)  # a wall
    assert game.step("left") == pytest.approx(-0.1) and game.player == (1, 1)
    assert game.step("down") == pytest.approx(-0.1) and game.player == (1, 1)  # a box against a box
    assert game.boxes == {(2, 1), (3, 1)}
    game = SokobanGame(parse("#####\n#XP_#\n#O__#\n#####"))
    assert game.step("left") == pytest.approx(-0.1) and game.player == (1, 2)  # a box against a wall
    env = SokobanEnv(room=parse("#####\n#XP_#\n#O__#\n#####"), expert=False)
    obs, _ = env.reset(seed=0)
    text, reward, terminated, _, info = env.step("left")
    assert text == obs and reward == pytest.approx(-0.1) and not terminated and not info["invalid_action"]


def test_solver_finds_short_plans_and_rejects_dead_rooms():
    room = parse("#####\n#X__#\n#__P#\n#__O#\n#####")  # the box is stuck in a corner
    assert solve(room.walls, room.targets, room.boxes, room.player) is None
    assert solve(room.walls, room.targets, room.targets, room.player) == []
    room = parse("######\n#_XX_#\n#____#\n#_OOP#\n######")  # boxes against the top wall
    assert solve(room.walls, room.targets, room.boxes, room.player) is None
    # Each box alone could still reach a target; as a 2x2 block none can move.
    room = parse("#######\n#P____#\n#_XX__#\n#_XX__#\n#_OOOO#\n#######")
    assert solve(room.walls, room.targets, room.boxes, room.player) is None
    room = parse(ROOM)
    assert solve(room.walls, room.targets, room.boxes, room.player) == ["down"]
    room = parse("#######\n#P_X_O#\n#######")
    assert solve(room.walls, room.targets, room.boxes, room.player) == ["right", "right", "right"]


def test_invalid_actions_do_not_change_the_grid():
    env = SokobanEnv(room=parse(ROOM))
    obs, _ = env.reset(seed=0)
    for bad in ["", "jump", "x" * 10_000, "⬆️", "up up", None, 3]:
        text, reward, terminated, truncated, info = env.step(bad)
        assert info["invalid_action"] is True and reward == 0 and not (terminated or truncated)
        assert text.endswith(obs) and text != obs and env.render() == obs
        assert info["score"] == 0
    for alias, row in [("Move Left.", "#P___#"), ("push right", "#_P__#"), ("  RIGHT ", "#__P_#")]:
        text, _, _, _, info = env.step(alias)
        assert info["invalid_action"] is False and text.splitlines()[1] == row


def test_same_seed_same_text_and_task_id_picks_the_room():
    env = SokobanEnv()
    assert env.reset(seed=11)[0] == env.reset(seed=11)[0]
    assert env.reset(seed=1, options={"task_id": 5})[0] == env.reset(seed=2, options={"task_id": 5})[0]
    assert len({env.reset(seed=s)[0] for s in range(20)}) > 15
    moves = [DIRECTIONS[i] for i in np.random.default_rng(0).integers(4, size=20)]
    runs = []
    for _ in range(2):
        env = SokobanEnv()
        runs.append([env.reset(seed=3)[0]] + [env.step(move)[0] for move in moves])
    assert runs[0] == runs[1]


def test_impossible_configs_are_clear_errors(monkeypatch):
    with pytest.raises(ValueError, match="at least"):
        generate_room(0, (4, 4), 1)
    with pytest.raises(ValueError, match="num_boxes"):
        generate_room(0, (6, 6), 5)
    with pytest.raises(ValueError, match="num_boxes"):
        SokobanEnv(num_boxes=0).reset(seed=0)
    # Retries are bounded: a generator that never confirms a room gives up with advice.
    monkeypatch.setattr(sokoban_generator, "solve", lambda *args, **kwargs: None)
    with pytest.raises(ValueError, match="fewer boxes or a larger room"):
        generate_room(0, (6, 6), 1)
