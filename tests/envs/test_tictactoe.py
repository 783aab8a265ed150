"""Tic-tac-toe: rules, the minimax expert and the AEC text conventions."""

from __future__ import annotations

import numpy as np

import agentrl
from agentrl.envs.tictactoe import best_move, winner


def play(env, policies: dict, seed: int = 0) -> dict[str, float]:
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    final: dict[str, float] = {}
    for agent in env.agent_iter():
        _obs, reward, terminated, truncated, info = env.last()
        if terminated or truncated:
            final[agent] = reward
            env.step(None)
            continue
        if policies[agent] == "expert":
            env.step(info["expert_action"])
        else:
            env.step(str(rng.choice(info["admissible_actions"])))
    return final


def test_expert_never_loses():
    env = agentrl.make("tictactoe")
    assert play(env, {"player_x": "expert", "player_o": "expert"}) == {"player_x": 0.0, "player_o": 0.0}
    for seed in range(30):
        assert play(env, {"player_x": "expert", "player_o": "random"}, seed)["player_x"] >= 0
        assert play(env, {"player_x": "random", "player_o": "expert"}, seed)["player_o"] >= 0


def test_minimax_takes_the_win_and_blocks():
    board = ("X", "X", " ", "O", "O", " ", " ", " ", " ")
    assert best_move(board, "X") == 2
    assert best_move(board, "O") == 5
    assert winner(("X", "X", "X", " ", "O", "O", " ", " ", " ")) == "X"


def test_invalid_moves_keep_the_turn_and_explain():
    env = agentrl.make("tictactoe")
    env.reset(seed=0)
    env.step("5")
    for bad in ["5", "0", "ten", "", "🙂"]:
        env.step(bad)
        assert env.agent_selection == "player_o"
        assert env.infos["player_o"]["invalid_action"] is True
        assert env.observe("player_o").startswith("Invalid action")
    env.step("place 1")
    assert env.agent_selection == "player_x" and env.infos["player_o"]["invalid_action"] is False


def test_win_rewards():
    env = agentrl.make("tictactoe")
    env.reset(seed=0)
    for move in ["1", "4", "2", "5", "3"]:
        env.step(move)
    assert env.terminations == {"player_x": True, "player_o": True}
    assert env.rewards == {"player_x": 1.0, "player_o": -1.0}
    assert env.infos["player_x"]["won"] and not env.infos["player_o"]["won"]
    assert "you won" in env.observe("player_x") and "you lost" in env.observe("player_o")


def test_each_seat_gets_the_instructions_until_it_first_acts():
    env = agentrl.make("tictactoe")
    env.reset(seed=0)
    assert all(env.infos[seat]["instructions"] == env.instructions for seat in env.agents)
    env.step("5")  # player_x acts; player_o has not yet
    assert "instructions" not in env.infos["player_x"]
    assert env.agent_selection == "player_o" and env.last()[4]["instructions"] == env.instructions
    env.step("occupied? 5")  # an invalid move is acting too
    assert not any("instructions" in env.infos[seat] for seat in env.agents)
    env.reset(seed=1)
    assert all("instructions" in env.infos[seat] for seat in env.agents)
