"""The meta-RL benchmark table, on a tiny budget."""

import re

import pytest

from sklearn_meta._benchmarks._rl import RLSettings, run_rl

pytest.importorskip("gymnasium")  # the environment-speed table steps gymnasium envs

TINY = RLSettings(
    rl2_steps={10: 1, 100: 1},
    mdp_steps=1,
    maml_steps=1,
    n_eval_tasks=20,
    n_navigation_tasks=3,
    env_tasks=5,
    env_steps=3,
)


@pytest.fixture(scope="module")
def section():
    messages = []
    text = run_rl(settings=TINY, device="cpu", random_state=0, progress=messages.append)
    return text, messages


def test_every_table_and_row_is_there(section):
    text, messages = section
    for title in (
        "Bandits, n = 10, k = 5",
        "Bandits, n = 100, k = 5",
        "Tabular MDPs",
        "2-D navigation",
        "Environment steps",
    ):
        assert f"### {title}" in text
    for row in (
        "RL²",
        "random",
        "UCB1",
        "Thompson",
        "Gittins",
        "PSRL",
        "value iteration",
        "MAML",
        "pretrained",
        "random initialization",
        "oracle",
        "Navigation2DTasks",
    ):
        assert f"| {row}" in text
    assert messages and messages[0].startswith("bandits")


def test_published_figures_stand_beside_the_measured(section):
    text, _ = section
    row = next(
        line for line in text.splitlines() if line.startswith("| Gittins") and "78.3" in line
    )
    mean = float(re.search(r"\| Gittins \| ([\d.]+) ±", row).group(1))
    assert 60 < mean < 95  # 20 tasks of 100 pulls: near the published 78.3
