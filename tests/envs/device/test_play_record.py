"""``agentrl play device record=DIR``: the episodes played land in agentrl's dataset format with PNG screenshots."""

from __future__ import annotations

from agentrl.agents.dataset import open_dataset
from agentrl.cli.config import env_overrides, load
from agentrl.cli.play import PlayConfig, _Session
from agentrl.factory import make_from_config


def test_play_records_expert_episodes_with_screenshots(tmp_path, require_browser):
    require_browser()
    out, image = tmp_path / "rec", tmp_path / "screen.png"
    cfg = load(
        "play",
        [*env_overrides("device"), "player=expert", "seed=0", f"record={out}", f"image_file={image}"],
        PlayConfig,
    )
    env = make_from_config(cfg.env)
    lines: list[str] = []
    try:
        _Session(cfg, input, lines.append).play_single(env)
    finally:
        env.close()
    dataset = open_dataset(out)
    [episode] = dataset.trajectories()
    assert episode.env_id == "agentrl/Device-v0" and episode.won and episode.task.startswith("Turn")
    assert episode.initial_observation.startswith("Task: ")
    last = episode.turns[-1]
    assert (
        last.action_text == "STATUS_TASK_COMPLETE"
        and last.reward == 1.0
        and last.info["aitw_action"]["action_type"] == 10
    )
    for turn in episode.turns:
        assert (out / turn.info["image_file"]).read_bytes()[:4] == b"\x89PNG"
        assert turn.prompt_ids == [] and "id=" in turn.observation_text
    assert dataset.manifest.agent == {"kind": "expert"}
    assert image.read_bytes()[:4] == b"\x89PNG"
    assert any("Recorded 1 episode(s)" in line for line in lines)
