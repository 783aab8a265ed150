"""The WebShop text env: the oracle on the 500 test goals, the action grammar, seeding, original data."""

from __future__ import annotations

import pytest

import agentrl
from agentrl.envs.webshop.oracle import expert_action, run_oracle


def test_oracle_buys_the_right_thing_on_the_test_goals():
    env = agentrl.make("agentrl/WebShop-v1", split="test")
    try:
        figures = run_oracle(env, range(500))
    finally:
        env.close()
    assert figures["goals"] == 500
    assert figures["success"] >= 0.95, figures["failed"][:10]
    assert figures["mean_steps"] <= 10


def test_episode_and_info():
    env = agentrl.make("agentrl/WebShop-v1", split="test")
    obs, info = env.reset(seed=0, options={"task_id": 4})
    goal = env.unwrapped.goal
    assert obs.startswith("WebShop [SEP] Instruction: [SEP] ") and goal.instruction in obs
    assert info["task"] == goal.instruction and info["admissible_actions"] == ["search[<query>]"]
    obs, reward, terminated, _, info = env.step(f"  Search[ {goal.query.upper()} ] ")
    assert (reward, terminated, info["invalid_action"]) == (0.0, False, False)
    assert "Page 1 (Total results: " in obs
    assert f"click[{goal.asin.lower()}]" in info["admissible_actions"] or "click[next >]" in info["admissible_actions"]
    # Off the search page, search still works (as in the original text env) but is not listed.
    assert not any(a.startswith("search[") for a in info["admissible_actions"])
    for bad in ("click[buy now]", "click[]", "search[]", "buy it", "click[B0NOTHERE1]"):
        obs2, reward, terminated, _, info2 = env.step(bad)
        assert info2["invalid_action"] and not terminated and reward == 0.0, bad
        assert obs2.startswith("Invalid action:") and obs2.endswith(obs)
    while info["expert_action"] is not None:
        obs, reward, terminated, _, info = env.step(info["expert_action"])
    assert terminated and reward == 1.0 and info["won"] and info["score"] == 100.0
    assert info["admissible_actions"] == [] and env.unwrapped.purchase.r_type == 1.0


def test_step_limit_and_rich_mode():
    env = agentrl.make("agentrl/WebShop-v1", observation_mode="text_rich")
    obs, _ = env.reset(seed=1)
    assert "[button] Search [button_]" in obs
    truncated = False
    for _ in range(15):
        _, _, terminated, truncated, _ = env.step("click[back to search]" if _ % 2 else "search[black]")
    assert truncated and not terminated  # the registered 15-step limit


def test_seeds_pick_goals():
    env = agentrl.make("agentrl/WebShop-v1", split="eval")
    first = env.reset(seed=3)[0]
    assert env.reset(seed=3)[0] == first
    assert env.reset(seed=0, options={"task_id": 3})[0] == first
    assert env.reset(seed=4)[0] != first


def test_bad_settings_are_clear():
    with pytest.raises(ValueError, match="unknown WebShop split"):
        agentrl.make("agentrl/WebShop-v1", split="dev")
    with pytest.raises(ValueError, match="observation_mode"):
        agentrl.make("agentrl/WebShop-v1", observation_mode="html")


def test_original_data_dir(original_data_dir):
    env = agentrl.make("agentrl/WebShop-v1", split="all", data_dir=str(original_data_dir))
    figures = run_oracle(env, range(1))
    assert figures["success"] == 1.0


def _searched(env, task_id):
    """Reset to ``task_id`` and play the expert's first action, the instruction's search; the goal and the info."""
    _, info = env.reset(seed=task_id, options={"task_id": task_id})
    goal = env.unwrapped.goal
    assert info["expert_action"] == f"search[{goal.instruction.lower()}]"  # the instruction, copied whole
    _, _, _, _, info = env.step(info["expert_action"])
    return goal, info


def test_oracle_buys_the_first_listed_product_that_meets_the_goal():
    """The expert acts on what the page shows: it opens the first listed product whose purchase scores best (not
    the goal's hidden target when an earlier one scores as well) and buys any product that does."""
    from agentrl.envs.webshop.oracle import best_reward, purchase_choice

    env = agentrl.make("agentrl/WebShop-v1", split="train")
    shop = env.unwrapped.shop
    earlier = 0
    try:
        for task_id in range(40):
            goal, info = _searched(env, task_id)
            results = shop.results(goal.instruction.lower())
            scores = [best_reward(goal, shop.product(a)) for a in results]
            choice, reward = purchase_choice(shop, goal, goal.instruction.lower())
            assert reward == max(scores) and choice == results[scores.index(max(scores))]
            if choice != goal.asin:
                earlier += 1
                assert goal.asin not in results or results.index(choice) < results.index(goal.asin)
            if results.index(choice) < 10:  # on the first page: the expert opens it
                assert info["expert_action"] == f"click[{choice}]"
                _, _, _, _, info = env.step(info["expert_action"])
                while info["expert_action"] is not None:
                    _, reward_, _, _, info = env.step(info["expert_action"])
                assert reward_ == 1.0
    finally:
        env.close()
    assert earlier > 0  # the rule matters: for some goals an earlier product scores as well as the target


def _play_expert(env, task_id, goal=None):
    """The page expert's actions on ``task_id`` (with ``goal`` put in the session instead of the split's), and the
    reward."""
    _, info = env.reset(seed=task_id, options={"task_id": task_id})
    if goal is not None:
        env.unwrapped.session.goal = goal
        info = {"expert_action": expert_action(env.unwrapped.shop, env.unwrapped.session, "page")}
    actions, reward, done = [], 0.0, False
    while not done and info["expert_action"] is not None:
        actions.append(info["expert_action"])
        _, reward, terminated, truncated, info = env.step(info["expert_action"])
        done = terminated or truncated
    return actions, float(reward)


def test_page_expert_reads_only_the_pages():
    """expert_view=page acts on what a shopper sees: the goal's hidden fields (its attributes, target product, query,
    category) change none of its actions, and every product it opens is the first listed one it has not opened whose
    price is within the instruction's bound; it goes back from a product exactly when one of the instruction's
    options is missing or the price is over the bound."""
    import dataclasses

    from agentrl.envs.webshop.oracle import offers_options

    env = agentrl.make("agentrl/WebShop-v1", split="train", observation_mode="text_rich", expert_view="page")
    shop = env.unwrapped.shop
    rewards, went_back = [], 0
    try:
        for task_id in range(60):
            goal = env.unwrapped.goals[task_id]
            hidden = dataclasses.replace(
                goal, attributes=["nothing of the sort"], asin="B000000000", query="x", category="y", name="z"
            )
            actions, reward = _play_expert(env, task_id)
            assert _play_expert(env, task_id, goal=hidden)[0] == actions
            rewards.append(reward)
            assert actions[0] == f"search[{goal.instruction.lower()}]" and actions[-1] == "click[Buy Now]"
            results = shop.results(goal.instruction.lower())
            in_budget = [a for a in results if shop.product(a).price <= goal.price_upper]
            opened = [a[6:-1] for a in actions if a[6:-1] in results]
            assert opened == in_budget[: len(opened)]  # in the order listed, none skipped, none over budget
            for asin in opened[:-1]:  # every product it left lacks an option or is over budget
                product = shop.product(asin)
                assert not offers_options(goal, product) or product.price > goal.price_upper
            bought = shop.product(opened[-1])
            if len(opened) < len(in_budget):
                assert offers_options(goal, bought)
            went_back += len(opened) - 1
    finally:
        env.close()
    assert went_back > 0  # the recovery the demonstrations now show
    assert 0.5 <= sum(r == 1.0 for r in rewards) / len(rewards) < 1.0  # buys some products that lack an attribute


def test_page_expert_recovers_from_a_product_the_policy_opened():
    """Off its own path the page expert still names an action a policy can read off the page: back from a product
    that lacks an option, then the first listed product not opened yet."""
    from agentrl.envs.webshop.oracle import offers_options

    env = agentrl.make("agentrl/WebShop-v1", split="train", observation_mode="text_rich", expert_view="page")
    shop = env.unwrapped.shop
    checked = 0
    try:
        for task_id in range(200):
            goal, info = _searched(env, task_id)
            page = shop.results(goal.instruction.lower())[:10]
            lacking = [a for a in page if not offers_options(goal, shop.product(a))]
            if not lacking or not goal.option_values:
                continue
            obs, _, _, _, info = env.step(f"click[{lacking[-1]}]")  # the policy strays to a product
            assert info["expert_action"] == "click[< Prev]"
            obs, _, _, _, info = env.step("click[< Prev]")
            assert f"[clicked button] {lacking[-1]} [clicked button_]" in obs  # text_rich marks it as opened
            first = next(
                a
                for a in shop.results(goal.instruction.lower())
                if shop.product(a).price <= goal.price_upper and a != lacking[-1]
            )
            assert info["expert_action"] == f"click[{first}]" or first not in page
            checked += 1
    finally:
        env.close()
    assert checked >= 5


def test_unknown_expert_view_is_refused():
    with pytest.raises(ValueError, match="expert_view 'human'; choose one of oracle, page"):
        agentrl.make("agentrl/WebShop-v1", expert_view="human")
