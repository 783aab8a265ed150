"""AgentFly's retrieval policy: softmax(Q/alpha) is the soft-optimal policy, the learned retriever beats cosine
top-1 on a contextual bandit, soft-Q bootstraps from the next retrieval, and checkpoints round-trip."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agentrl.memory import Case, CaseMemory, MemoryConfig, RetrieverConfig
from agentrl.memory.retriever import LearnedRetriever, Triple, regularised_objective, soft_policy, soft_value

TOPICS = {"shoes": "alpha", "laptop": "bravo", "coffee": "charlie", "garden": "delta"}
"""Each topic's helpful case is a checklist whose words share nothing with the topic's tasks."""


def test_softmax_of_q_over_alpha_maximises_the_entropy_regularised_objective():
    rng = np.random.default_rng(0)
    for alpha in (0.1, 1.0, 3.0):
        q = rng.standard_normal(6) * 2
        mu = soft_policy(q, alpha)
        best = regularised_objective(mu, q, alpha)
        assert best == pytest.approx(soft_value(q, alpha))
        for other in rng.dirichlet(np.ones(6), size=300):
            assert regularised_objective(other, q, alpha) <= best + 1e-9
        assert regularised_objective(np.eye(6)[np.argmax(q)], q, alpha) < best  # greedy is not soft-optimal


def _bandit_memory(tmp_path, kind: str) -> CaseMemory:
    retriever = RetrieverConfig(kind=kind, k=1, candidates=16, alpha=2.0, lr=1e-3, updates_per_episode=2, seed=0)
    memory = CaseMemory(MemoryConfig(path=str(tmp_path / f"{kind}.sqlite"), encoder="hash", retriever=retriever))
    cases, texts = [], []
    for topic, helper in TOPICS.items():
        # The distractor reads like the topic's tasks (cosine's pick); the helper does not.
        cases.append(Case(task=f"notes on order {topic} item", env_id="bandit", won=True, summary=topic))
        cases.append(Case(task=f"checklist {helper} steps", env_id="bandit", won=True, summary=f"helper:{topic}"))
    for case in cases:
        texts.append(case.task)
    memory.write(cases, texts)
    return memory


def _success(rng: np.random.Generator, topic: str, case: Case) -> bool:
    """The bandit's simulated model: succeeds 90% of the time with the topic's helper case in its prompt, 10%
    otherwise."""
    return bool(rng.random() < (0.9 if case.summary == f"helper:{topic}" else 0.1))


def _task(rng: np.random.Generator) -> tuple[str, str]:
    topic = str(rng.choice(list(TOPICS)))
    return topic, f"order {topic} item {int(rng.integers(1000))}"


def _greedy_success(memory: CaseMemory, episodes: int = 200) -> float:
    rng = np.random.default_rng(123)
    wins = 0
    for _ in range(episodes):
        topic, task = _task(rng)
        (case,) = memory.retrieve("bandit", task, sample=False).cases
        wins += _success(rng, topic, case)
    return wins / episodes


def test_the_learned_retriever_beats_cosine_top1_on_a_contextual_bandit(tmp_path):
    torch.manual_seed(0)
    cosine_rate = _greedy_success(_bandit_memory(tmp_path, "cosine"))
    assert cosine_rate < 0.3  # cosine picks the look-alike distractor
    learned_rates = []
    for seed in range(3):  # three bandit streams: one stream can be slow to find a topic's helper
        learned = _bandit_memory(tmp_path / str(seed), "learned")
        rng = np.random.default_rng(seed)
        for _ in range(400):  # online: sample a case from softmax(Q/alpha), observe the outcome, learn
            topic, task = _task(rng)
            got = learned.retrieve("bandit", task, sample=True)
            learned.learn([got], _success(rng, topic, got.cases[0]))
        learned_rates.append(_greedy_success(learned))
        assert learned.retriever_path.exists()  # checkpointed while learning (every 10 episodes)
    assert np.mean(learned_rates) > cosine_rate + 0.4, (cosine_rate, learned_rates)
    assert min(learned_rates) > cosine_rate + 0.2, (cosine_rate, learned_rates)


def test_soft_q_bootstraps_from_the_next_retrieval():
    dim = 8
    cfg = RetrieverConfig(kind="learned", loss="soft_q", alpha=0.5, gamma=0.9, lr=5e-3, hidden=32, batch_size=2)
    retriever = LearnedRetriever(dim, cfg)
    eye = np.eye(dim, dtype=np.float32)
    s0, c0, s1, c1 = eye[0], eye[1], eye[2], eye[3]
    last = Triple(task=s1, case=c1, case_won=True, reward=1.0)
    first = Triple(
        task=s0, case=c0, case_won=True, reward=0.0, next_task=s1, next_cases=c1[None, :], next_won=np.ones(1)
    )
    for _ in range(600):
        retriever.record([first, last])
    q1 = retriever.q_values(s1, c1[None, :], np.ones(1))[0]
    q0 = retriever.q_values(s0, c0[None, :], np.ones(1))[0]
    assert q1 == pytest.approx(1.0, abs=0.05)
    assert q0 == pytest.approx(0.9 * soft_value(np.array([q1]), 0.5), abs=0.05)  # r + gamma alpha logsumexp(Q/a)


def test_a_checkpoint_restores_the_same_scores_and_a_bad_file_is_named(tmp_path):
    cfg = RetrieverConfig(kind="learned", hidden=16, seed=3)
    a = LearnedRetriever(8, cfg)
    rng = np.random.default_rng(0)
    a.record([Triple(task=rng.random(8), case=rng.random(8), case_won=True, reward=1.0) for _ in range(8)])
    a.save(tmp_path / "q.pt")
    b = LearnedRetriever(8, RetrieverConfig(kind="learned", hidden=16, seed=4))
    b.load(tmp_path / "q.pt")
    cases = rng.random((5, 8))
    np.testing.assert_array_equal(a.q_values(cases[0], cases, np.ones(5)), b.q_values(cases[0], cases, np.ones(5)))
    assert b.updates == a.updates
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"junk\.pt"):
        b.load(tmp_path / "junk.pt")
