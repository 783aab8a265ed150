"""Sokoban: the generator only makes solvable rooms, the solver and expert solve them,
and the grid, rewards and invalid actions follow the RAGEN conventions."""

from __future__ import annotations

import numpy as np
import pytest

import agentrl
from agentrl.envs.sokoban import Room, SokobanEnv, SokobanGame, generate_room, solve

CONFIGS = [((6, 6), 1), ((7, 7), 2), ((8, 8), 2), ((8, 8), 3)]


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


@pytest.mark.parametrize(("dim", "boxes"), CONFIGS)
def test_generated_rooms_are_deterministic_and_solved_by_their_plan(dim, boxes):
    for seed in range(25):
        room, plan = generate_room(seed, dim, boxes)
        again, _ = generate_room(seed, dim, boxes)
        assert room == again
        assert len(room.boxes) == boxes and room.shape == dim
        assert not room.boxes & room.targets
        assert replay(room, plan).solved
        independent = solve(room.walls, room.targets, room.boxes, room.player)
        assert independent is not None and replay(room, independent).solved


@pytest.mark.parametrize(("dim", "boxes"), CONFIGS)
def test_expert_wins_seeded_instances_of_every_config(dim, boxes):
    env = agentrl.make("sokoban", dim_room=list(dim), num_boxes=boxes)
    for seed in range(10):
        _, info = env.reset(seed=seed)
        for _ in range(100):
            _, reward, terminated, truncated, info = env.step(info["expert_action"])
            if terminated or truncated:
                break
        assert info["won"] and terminated and reward >= 10 - 0.1, (dim, boxes, seed)


def test_expert_replans_after_the_agent_strays():
    env = SokobanEnv(dim_room=(8, 8), num_boxes=2)
    _, info = env.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(6):  # wander off the plan
        _, _, terminated, _, info = env.step(["up", "down", "left", "right"][rng.integers(4)])
        if terminated:
            return
    for _ in range(200):
        if info["expert_action"] is None:
            break
        _, _, terminated, _, info = env.step(info["expert_action"])
        if terminated:
            break
    # Random moves can push a box into a dead corner; otherwise the expert must finish.
    game = env.unwrapped.engine
    if solve(game.walls, game.targets, frozenset(game.boxes), game.player) is not None or info["won"]:
        assert info["won"]


ROOM = """
######
#_P__#
#_X__#
#_O__#
######
"""


def test_rendering_symbols():
    env = SokobanEnv(room=parse(ROOM))
    obs, _ = env.reset(seed=0)
    assert obs == ROOM.strip()
    obs, reward, terminated, _, info = env.step("down")
    assert obs.splitlines()[2:4] == ["#_P__#", "#_√__#"]
    assert terminated and info["won"] and reward == pytest.approx(-0.1 + 1 + 10)
    env = SokobanEnv(room=parse("#####\n#PO_#\n#_X_#\n#___#\n#####"))
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step("right")
    assert obs.splitlines()[1] == "#_S_#"


def test_push_off_target_and_wall_bumps():
    room = parse(
        """
#######
#_P___#
#_√___#
#_____#
#___OX#
#_____#
#######
"""
    )
    game = SokobanGame(room)
    assert game.step("down") == pytest.approx(-0.1 - 1)  # the box leaves its target
    game = SokobanGame(room)
    assert game.step("up") == pytest.approx(-0.1) and game.player == (1, 2)  # wall: nothing moves
    game = SokobanGame(parse("#####\n#P__#\n#X__#\n#X_O#\n#O__#\n#####"))
    assert game.step("down") == pytest.approx(-0.1) and game.player == (1, 1)  # box against box


def test_solver_rejects_a_box_in_a_corner():
    room = parse("#####\n#X__#\n#__P#\n#__O#\n#####")
    assert solve(room.walls, room.targets, room.boxes, room.player) is None
    assert solve(room.walls, room.targets, room.targets, room.player) == []


def test_invalid_actions_do_not_move_anything():
    env = SokobanEnv(room=parse(ROOM))
    obs, _ = env.reset(seed=0)
    for bad in ["", "jump", "x" * 10_000, "⬆️", "up up"]:
        text, reward, terminated, truncated, info = env.step(bad)
        assert info["invalid_action"] and reward == 0 and not (terminated or truncated)
        assert text.endswith(obs)
    assert env.step("Move Left.")[4]["invalid_action"] is False


def test_same_seed_same_room_and_task_id():
    env = SokobanEnv()
    assert env.reset(seed=11)[0] == env.reset(seed=11)[0]
    assert env.reset(seed=1, options={"task_id": 5})[0] == env.reset(seed=2, options={"task_id": 5})[0]
    assert len({env.reset(seed=s)[0] for s in range(20)}) > 15


def test_impossible_configs_are_clear_errors():
    with pytest.raises(ValueError, match="at least"):
        generate_room(0, (4, 4), 1)
    with pytest.raises(ValueError, match="num_boxes"):
        generate_room(0, (6, 6), 5)
