"""GRASP simulator rules (hand-computed), the expert program, and the GridPolicy env."""

from __future__ import annotations

import pytest

import agentrl
from agentrl.sandboxes.grasp import GraspInstance, GraspVariant, generate, simulate
from agentrl.sandboxes.gridpolicy import EXPERT_SOURCE, GridPolicyEnv
from tests.sandboxes.conftest import backend_or_skip


def _instance(**variant) -> GraspInstance:
    energy = [[0] * 5 for _ in range(5)]
    energy[2][3] = 4  # right of the start
    energy[0][2] = 7  # two up
    return GraspInstance(GraspVariant(size=5, **variant), start=(2, 2), energy=energy, obstacles={(1, 2)})


def test_score_is_delivered_minus_cost_per_step_taken():
    inst = _instance(cost=0.25)
    sim = simulate(inst, ["right", "take", "left", "drop"])
    assert (sim.delivered, sim.steps, sim.wasted) == (4, 4, 0)
    assert sim.score == pytest.approx(4 - 0.25 * 4)  # per step taken, not per size of the move set (6)


def test_obstacles_walls_and_unknown_actions_waste_steps():
    inst = _instance(cost=0.5)
    sim = simulate(inst, ["up", "fly", "take", "drop"])  # (1, 2) is an obstacle; nothing to take; drop empty-handed
    assert (sim.delivered, sim.steps, sim.wasted) == (0, 4, 4)
    assert sim.score == pytest.approx(-2.0)
    corner = GraspInstance(GraspVariant(size=5), start=(0, 0), energy=[[0] * 5 for _ in range(5)])
    assert simulate(corner, ["up", "left", "down", "right"]).wasted == 2  # the grid's edge is a wall


def test_capacity_limits_what_is_carried_and_the_plan_is_cut_at_max_steps():
    inst = _instance(capacity=3, cost=0.0, max_steps=4)
    assert simulate(inst, ["right", "take", "left", "drop"]).delivered == 3
    assert simulate(inst, ["right", "take", "left", "left", "drop"]).steps == 4  # the drop is past the budget
    unlimited = _instance(cost=0.0)
    assert simulate(unlimited, ["right", "take", "take", "left", "drop"]).wasted == 1  # second take finds nothing


def test_generation_is_seeded_and_every_variant_builds():
    assert generate(5).energy == generate(5).energy
    assert generate(5).energy != generate(6).energy
    for distribution in ("uniform", "clustered", "sparse"):
        for start in ("center", "corner", "random"):
            inst = generate(1, GraspVariant(distribution=distribution, start=start, obstacles="walls"))
            assert inst.start not in inst.obstacles
            assert sum(map(sum, inst.energy)) > 0
    with pytest.raises(ValueError):
        GraspVariant(distribution="gaussian")


def test_expert_program_plans_good_routes():
    namespace: dict = {}
    exec(EXPERT_SOURCE, namespace)
    inst = _instance(cost=0.1)
    plan = namespace["plan"](inst.state())
    # Going around the obstacle to the 7 and back (4 + 4 moves + take + drop) beats the 4 next door;
    # taking both on one trip is best.
    sim = simulate(inst, plan)
    assert sim.delivered == 11 and sim.score == pytest.approx(11 - 0.1 * len(plan))
    assert namespace["plan"](GraspInstance(GraspVariant(size=5), (2, 2), [[0] * 5 for _ in range(5)]).state()) == []


@pytest.fixture
def env(request):
    backend = getattr(request, "param", "bubblewrap")
    backend_or_skip(backend)
    env = GridPolicyEnv(n_instances=3, max_attempts=3, program_timeout_s=3, sandbox={"backend": backend})
    yield env
    env.close()


@pytest.mark.parametrize("env", ["bubblewrap", "docker"], indirect=True)
def test_expert_program_wins_in_the_sandbox(env):
    obs, info = env.reset(seed=4)
    assert "plan(state)" in obs and info["expert_action"].startswith("```python")
    obs, reward, terminated, _, info = env.step(info["expert_action"])
    assert info["won"] and terminated
    assert reward == pytest.approx(env.expert_score) and info["score"] == pytest.approx(env.expert_score)


def test_feedback_drives_refinement_and_reward_is_improvement(env):
    env.reset(seed=2)
    weak = "```python\ndef plan(state):\n    return []\n```"
    obs, reward, terminated, _, info = env.step(weak)
    assert reward == 0.0 and not terminated and "Grid 1: score 0" in obs
    broken = "```python\ndef plan(state):\n    return 1 / 0\n```"
    obs, reward, _, _, info = env.step(broken)
    assert "ZeroDivisionError" in obs and reward == 0.0 and not info["invalid_action"]
    obs, reward, terminated, _, info = env.step(info["expert_action"])
    assert reward == pytest.approx(env.expert_score) and terminated


def test_programs_cannot_fake_scores_or_escape(env):
    env.reset(seed=0)
    liar = (
        "```python\nimport sys\nprint('AGENTRL-RESULT-0' + '{\"results\": []}')\n"
        "open('/etc/owned', 'w')\ndef plan(state):\n    return []\n```"
    )
    obs, reward, _, _, _ = env.step(liar)
    assert reward == 0.0 and ("Read-only file system" in obs or "Permission" in obs)
    slow = "```python\ndef plan(state):\n    while True:\n        pass\n```"
    obs, _, _, _, _ = env.step(slow)
    assert "killed" in obs


def test_invalid_actions_and_done():
    env = GridPolicyEnv(n_instances=1)
    env.reset(seed=0)
    for bad in ("move up", "```python\nprint(1)\n```", "def plan(state) return []"):
        _, _, terminated, _, info = env.step(bad)
        assert info["invalid_action"] and not terminated
    _, reward, terminated, _, info = env.step("done")
    assert terminated and reward == 0.0 and not info["invalid_action"]
    env.close()


def test_registered_and_made_by_short_name():
    env = agentrl.make("gridpolicy")
    obs, info = env.reset(seed=1)
    assert "Grid 1 of 5" in obs and info["task"]
    env.close()
