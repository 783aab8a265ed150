"""Prompts grow by the exact response ids; actions are parsed out of any reply."""

from __future__ import annotations

from agentrl.agents.parsing import parse_action
from agentrl.agents.prompting import ACTION_SUFFIX, DEFAULT_INSTRUCTIONS, Conversation, chat_pieces


def test_chat_pieces_of_chatml(tiny):
    _, tokenizer = tiny
    pieces = chat_pieces(tokenizer)
    assert pieces.user_prefix == "<|im_start|>user\n"
    assert pieces.user_suffix == "<|im_end|>\n<|im_start|>assistant\n"
    assert pieces.closing == "<|im_end|>\n"


def test_conversation_grows_by_the_response_ids_and_matches_the_template(tiny):
    _, tokenizer = tiny
    eos = tokenizer.eos_token_id
    conversation = Conversation(tokenizer, "sys", chat_pieces(tokenizer), eos_ids=frozenset({eos}))
    conversation.observe("obs one")
    first = conversation.prompt_ids()
    response = [*tokenizer("left", add_special_tokens=False)["input_ids"], eos]
    conversation.reply(response)
    conversation.observe("obs two")
    second = conversation.prompt_ids()
    assert second[: len(first) + len(response)] == first + response
    rendered = tokenizer.apply_chat_template(
        [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": "obs one"},
            {"role": "assistant", "content": "left"},
            {"role": "user", "content": "obs two"},
        ],
        tokenize=False,
        add_generation_prompt=True,
    )
    assert tokenizer.decode(second) == rendered


def test_a_reply_cut_by_length_gets_the_closing_tokens(tiny):
    _, tokenizer = tiny
    conversation = Conversation(tokenizer, "sys", chat_pieces(tokenizer), eos_ids=frozenset({tokenizer.eos_token_id}))
    conversation.observe("o")
    response = tokenizer("up up up", add_special_tokens=False)["input_ids"]
    conversation.reply(response)
    conversation.observe("p")
    assert tokenizer.decode(conversation.prompt_ids()).endswith(
        "up up up<|im_end|>\n<|im_start|>user\np<|im_end|>\n<|im_start|>assistant\n"
    )


def test_history_window_keeps_the_last_turns(tiny):
    _, tokenizer = tiny
    conversation = Conversation(tokenizer, "sys", chat_pieces(tokenizer), history=1)
    for i in range(3):
        conversation.observe(f"obs {i}")
        conversation.reply(tokenizer(f"act {i}", add_special_tokens=False)["input_ids"])
    conversation.observe("obs 3")
    text = tokenizer.decode(conversation.prompt_ids())
    assert "act 2" in text and "obs 3" in text and "act 1" not in text and "obs 0" not in text


def test_parse_action_variants():
    assert parse_action("<think>go left?</think><action>turn left</action>") == "turn left"
    assert parse_action("I think so.\nAction: go forward") == "go forward"
    assert parse_action("<action>up</action> then <action>down</action>") == "down"
    assert parse_action("  right  \n\n") == "right"
    assert parse_action("<think>unfinished reasoning") == ""
    assert parse_action("no tag here", require_tag=True) == ""
    assert parse_action("") == ""
    assert len(parse_action("x" * 10_000)) == 2000


def test_system_prompt_is_the_envs_own_instructions(tiny):
    from agentrl.agents.backends import HFBackend
    from agentrl.agents.base import EpisodeStart
    from agentrl.agents.llm_agent import AgentConfig, LLMAgent

    model, tokenizer = tiny
    agent = LLMAgent(HFBackend(model, tokenizer), tokenizer)
    info = {"task": "find the key", "instructions": "You open doors. Reply with: open X."}
    conversation = agent.start_episode(EpisodeStart("mypkg:Doors-v0", 0, "A door.", info))
    assert conversation.system.startswith("You open doors. Reply with: open X.")
    assert conversation.system.endswith("Your task: find the key") and ACTION_SUFFIX in conversation.system
    # A third-party env that gives no instructions gets the generic prompt, whatever its id.
    bare = agent.start_episode(EpisodeStart("agentrl/Sokoban-v0", 0, "A room.", {"task": ""}))
    assert bare.system.startswith(DEFAULT_INSTRUCTIONS)
    # agent.system_prompt replaces the env's instructions.
    custom = LLMAgent(agent.backend, tokenizer, AgentConfig(system_prompt="Mine.", tagged_actions=False))
    assert custom.start_episode(EpisodeStart("x", 0, "o", info)).system == "Mine.\nYour task: find the key"


def test_past_turns_lose_their_action_lists_unless_history_actions(tiny):
    from agentrl.agents.backends import HFBackend
    from agentrl.agents.base import AgentStep, EpisodeStart
    from agentrl.agents.generation import Completion
    from agentrl.agents.llm_agent import AgentConfig, LLMAgent

    model, tokenizer = tiny
    backend = HFBackend(model, tokenizer)

    def play(history_actions: bool) -> tuple[str, list[list[int]]]:
        agent = LLMAgent(backend, tokenizer, AgentConfig(history=None, history_actions=history_actions))
        info = {"task": "t", "admissible_actions": ["go north", "go south"]}
        conversation = agent.start_episode(EpisodeStart("x", 0, "room 0", info))
        prompts = [conversation.prompt_ids()]
        for i in range(1, 3):
            ids = tokenizer("<action>go north</action>", add_special_tokens=False)["input_ids"]
            step = AgentStep(prompts[-1], Completion(ids, [0.0] * len(ids), "", "stop"), "go north")
            agent.observe(conversation, step, f"room {i}", {**info, "admissible_actions": [f"look {i}"]})
            prompts.append(conversation.prompt_ids())
        return tokenizer.decode(prompts[-1]), prompts

    text, prompts = play(history_actions=False)
    assert text.count("Valid actions:") == 1
    assert text.endswith("room 2\nValid actions: look 2<|im_end|>\n<|im_start|>assistant\n")
    assert "room 0<|im_end|>" in text and "room 1<|im_end|>" in text  # past observations and replies stay
    # each prompt starts with the one before up to its latest observation (kept states serve all but that message)
    before = tokenizer.decode(prompts[1])
    assert tokenizer.decode(prompts[2]).startswith(before[: before.rindex("room 1")] + "room 1<|im_end|>")
    kept, _ = play(history_actions=True)
    assert kept.count("Valid actions:") == 3 and "room 0\nValid actions: go north, go south<|im_end|>" in kept
