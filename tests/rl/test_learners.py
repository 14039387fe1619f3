"""The meta-RL learners as scikit-learn estimators: fit, adapt, score,
determinism, saving, and errors that name the problem."""

import numpy as np
import pytest
import torch
from sklearn.base import clone

from sklearn_meta import load
from sklearn_meta.rl import (
    BanditTasks,
    MAMLPolicy,
    Navigation2DTasks,
    RL2Policy,
    TabularMDPTasks,
)
from sklearn_meta.rl._rl2 import AdaptedRecurrentPolicy, RecurrentAgent
from sklearn_meta.rl._rollout import run_trial

BANDITS = BanditTasks(n_arms=2, n_episodes=6)
NAVIGATION = Navigation2DTasks(horizon=8, n_episodes=4)


def small_rl2(**params):
    settings = dict(hidden_size=16, max_iter=3, meta_batch_size=16, n_eval_tasks=20)
    return RL2Policy(**(settings | dict(device="cpu", random_state=0) | params))


def small_maml(**params):
    settings = dict(hidden_layer_sizes=(16,), max_iter=2, meta_batch_size=4, n_eval_tasks=5)
    return MAMLPolicy(**(settings | dict(device="cpu", random_state=0) | params))


LEARNERS = [(small_rl2, TabularMDPTasks(n_states=3, n_actions=2, horizon=3, n_episodes=2)),
            (small_maml, NAVIGATION)]


@pytest.mark.parametrize(("make", "family"), LEARNERS)
def test_fit_is_deterministic_under_random_state(make, family):
    first, second = make().fit(family), make().fit(family)
    assert first.train_returns_ == second.train_returns_
    for a, b in zip(first.policy_.parameters(), second.policy_.parameters(), strict=True):
        assert torch.equal(a, b)
    assert first.score(family) == second.score(family)
    other = make(random_state=1).fit(family)
    assert other.train_returns_ != first.train_returns_


@pytest.mark.parametrize(("make", "family"), LEARNERS)
def test_save_and_load_give_the_same_policy(make, family, tmp_path):
    fitted = make().fit(family)
    path = tmp_path / "policy.pt"
    fitted.save(path)
    loaded = load(path)
    assert type(loaded) is type(fitted)
    assert loaded.get_params() == fitted.get_params()
    assert loaded.family_ == family
    assert loaded.score(family) == fitted.score(family)
    for a, b in zip(loaded.policy_.parameters(), fitted.policy_.parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(("make", "family"), LEARNERS)
def test_clone_and_params(make, family):
    estimator = make(max_iter=1)
    copy = clone(estimator)
    assert copy.get_params() == estimator.get_params()
    copy.set_params(max_iter=2)
    assert estimator.max_iter == 1


@pytest.mark.parametrize(("make", "family"), LEARNERS)
def test_warm_start_continues(make, family):
    estimator = make(warm_start=True).fit(family)
    weights = [p.detach().clone() for p in estimator.policy_.parameters()]
    estimator.fit(family)
    assert estimator.n_iter_ == 2 * estimator.max_iter
    assert any(
        not torch.equal(a, b) for a, b in zip(weights, estimator.policy_.parameters(), strict=True)
    )


def _families():
    families = [BANDITS, TabularMDPTasks(n_states=3, n_actions=2, horizon=3, n_episodes=2)]
    families.append(NAVIGATION)
    try:  # the loop path needs the rl extra
        from sklearn_meta.rl import GymnasiumTasks, TabularMDPEnv

        env = TabularMDPEnv(n_states=3, n_actions=2, horizon=3)
        families.append(GymnasiumTasks(env, n_episodes=2, horizon=3))
    except ImportError:
        pass
    return families


@pytest.mark.parametrize("make", [small_rl2, small_maml])
@pytest.mark.parametrize("family", _families(), ids=lambda family: type(family).__name__)
def test_every_learner_runs_on_every_family(make, family):
    fitted = make(max_iter=1, meta_batch_size=3).fit(family)
    assert np.isfinite(fitted.train_returns_).all()
    assert np.isfinite(fitted.score(family.sample(2, random_state=1)))
    policy = fitted.adapt(family.sample(1, random_state=2), n_episodes=1)
    observation = np.zeros(family.observation_size)
    action, _ = policy.predict(observation)
    assert np.shape(action) == (() if family.discrete else (family.action_size,))


@pytest.mark.parametrize(("make", "family"), LEARNERS)
def test_score_is_made_of_the_episode_returns(make, family):
    fitted = make().fit(family)
    tasks = family.sample(7, random_state=5)
    returns = fitted.episode_returns(tasks)
    assert returns.shape == (7, family.n_episodes) and np.isfinite(returns).all()
    per_task = returns.sum(1) if isinstance(fitted, RL2Policy) else returns.mean(1)
    assert fitted.score(tasks) == pytest.approx(per_task.mean())


def test_rl2_step_by_step_matches_the_whole_sequence():
    """The rollout steps the GRU one step at a time; training runs it over
    the whole trial at once: the same log-probabilities."""
    rl2 = small_rl2().fit(BANDITS)
    agent = RecurrentAgent(rl2.policy_, record=True)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        trial = run_trial(agent, BANDITS.sample(5, random_state=0), generator)
        memory = agent.last_memory
        output, _, _ = rl2.policy_(torch.stack(memory.seen))
    log_probs = torch.log_softmax(output, -1).gather(-1, trial.actions[..., None])[..., 0]
    torch.testing.assert_close(log_probs, torch.stack(memory.log_probs), atol=1e-5, rtol=1e-5)


FIVE_ARMS = BanditTasks(n_arms=5, n_episodes=10)
SHORT_RUN = dict(meta_batch_size=128, hidden_size=32, batch_size=32, n_eval_tasks=400)


@pytest.fixture(scope="module")
def trained_rl2():
    return small_rl2(max_iter=80, **SHORT_RUN).fit(FIVE_ARMS)


def test_rl2_learns_bandits(trained_rl2):
    """A short meta-training beats random arms (5 per 10 pulls) and the
    untrained policy, by far more than the noise of 400 trials (about 0.08)."""
    untrained = small_rl2(max_iter=1, learning_rate_init=1e-9, **SHORT_RUN).fit(FIVE_ARMS)
    assert trained_rl2.score(FIVE_ARMS) > 5.4
    assert trained_rl2.score(FIVE_ARMS) > untrained.score(FIVE_ARMS) + 0.4


def test_rl2_predict_continues_the_trial_with_rewards(trained_rl2):
    """After adaptation, predict with each reward fed back takes the actions
    the agent takes when the trial goes on."""
    agent = RecurrentAgent(trained_rl2.policy_, deterministic=True)
    tasks = FIVE_ARMS.sample(50, random_state=4)
    with torch.no_grad():
        trials = run_trial(agent, tasks, torch.Generator().manual_seed(0))
    # a task on which the greedy policy changes arms, as what it sees says
    index = next(i for i in range(50) if len(set(trials.actions[:, i].tolist())) > 2)
    task = tasks[index]
    with torch.no_grad():
        longer = run_trial(agent, task, torch.Generator().manual_seed(0), n_episodes=10)
        run_trial(agent, task, torch.Generator().manual_seed(0), n_episodes=4)
    actions, rewards = longer.actions[:, 0].tolist(), longer.rewards[:, 0].tolist()
    policy = AdaptedRecurrentPolicy(trained_rl2.policy_, agent.last_memory, torch.Generator())
    action, state = policy.predict([0.0], deterministic=True)
    assert int(action) == actions[4]
    for t in range(5, 10):  # each pull is an episode: every step starts one
        action, state = policy.predict(
            [0.0], state, episode_start=True, deterministic=True, reward=rewards[t - 1]
        )
        assert int(action) == actions[t]


def test_maml_adaptation_improves_navigation():
    """Each adaptation step of a meta-trained initialization brings the robot
    closer to its goal on unseen tasks."""
    tasks = Navigation2DTasks(horizon=20, n_episodes=10)
    maml = small_maml(hidden_layer_sizes=(32,), max_iter=15, meta_batch_size=10, n_eval_tasks=100)
    maml.fit(tasks)
    scores = [maml.set_params(adapt_steps=k).score(tasks) for k in (0, 1, 2)]
    assert scores[1] > scores[0] + 0.3  # about -9.9, -8.7, -8.0 here
    assert scores[2] > scores[1] + 0.3


def test_adapted_policies_predict_like_stable_baselines():
    rl2 = small_rl2().fit(BANDITS)
    policy = rl2.adapt(BANDITS.sample(1, random_state=3))
    action, state = policy.predict(np.zeros(1), deterministic=True)
    assert action.shape == () and int(action) in (0, 1)
    again, same_state = policy.predict(np.zeros(1), state=state, deterministic=True)
    assert again == action and np.array_equal(state, same_state)  # no reward: the same state
    actions, states = policy.predict(np.zeros((3, 1)), reward=[1.0, 0.0, 1.0])
    assert actions.shape == (3,) and states.shape == state.shape[:0] + (3, state.shape[1])
    with pytest.raises(ValueError, match="state must be"):
        policy.predict(np.zeros(1), state=np.zeros((1, 2)))

    maml = small_maml().fit(NAVIGATION)
    policy = maml.adapt(NAVIGATION.sample(1, random_state=3), n_episodes=2)
    action, state = policy.predict([0.1, 0.2], deterministic=True)
    assert action.shape == (2,) and state is None
    actions, _ = policy.predict(np.zeros((5, 2)))
    assert actions.shape == (5, 2)
    for bad in (np.zeros(3), np.zeros((2, 2, 2))):  # both policies say what they expect
        with pytest.raises(ValueError, match="observation of size 2"):
            policy.predict(bad)
    with pytest.raises(ValueError, match="observation of size 1"):
        rl2.adapt(BANDITS.sample(1, random_state=3)).predict(np.zeros(2))


def test_adapt_to_a_gymnasium_environment():
    """A user's environment, already set to its task, plugs into adapt."""
    pytest.importorskip("gymnasium")
    from sklearn_meta.rl import Navigation2DEnv

    maml = small_maml().fit(NAVIGATION)
    env = Navigation2DEnv(horizon=NAVIGATION.horizon, task={"goal": np.array([0.3, -0.2])})
    policy = maml.adapt(env, n_episodes=3)
    action, _ = policy.predict(np.zeros(2), deterministic=True)
    assert action.shape == (2,) and np.isfinite(action).all()
    with pytest.raises(TypeError, match="gymnasium.Env"):
        maml.adapt("my env")


@pytest.mark.parametrize(("make", "family"), LEARNERS)
def test_bad_input_names_the_problem(make, family):
    with pytest.raises(TypeError, match="task family"):
        make().fit(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="max_iter"):
        make(max_iter=0).fit(family)
    with pytest.raises(TypeError, match="warm_start"):
        make(warm_start="yes").fit(family)
    fitted = make().fit(family)
    wrong = BanditTasks(n_arms=7)
    with pytest.raises(ValueError, match="fitted on tasks with"):
        fitted.score(wrong)
    with pytest.raises(ValueError, match="fitted on tasks with"):
        fitted.adapt(wrong.sample(1))
    with pytest.raises(ValueError, match="one task"):
        fitted.adapt(family.sample(3))
    with pytest.raises(ValueError, match="n_episodes"):
        fitted.adapt(family.sample(1), n_episodes=0)
    with pytest.raises(TypeError, match="n_episodes"):
        fitted.adapt(family.sample(1), n_episodes=1.5)
    before = [p.detach().clone() for p in fitted.policy_.parameters()]
    with pytest.raises(ValueError, match="fitted on tasks with"):
        fitted.set_params(warm_start=True).fit(wrong)  # a failed call keeps the model
    assert all(
        torch.equal(a, b) for a, b in zip(before, fitted.policy_.parameters(), strict=True)
    )


def test_unfitted_learners_say_so():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        small_rl2().score(BANDITS)
    with pytest.raises(NotFittedError):
        small_maml().adapt(NAVIGATION.sample(1))


def test_threads_are_the_learners_and_the_callers_come_back():
    seen = []

    class Spy(RL2Policy):
        def _meta_step(self, tasks):
            seen.append(torch.get_num_threads())
            return super()._meta_step(tasks)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        Spy(hidden_size=4, max_iter=1, meta_batch_size=2, n_threads=1, random_state=0).fit(BANDITS)
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="n_threads"):
        small_rl2(n_threads=0).fit(BANDITS)


def test_a_diverging_fit_says_so_and_keeps_the_fitted_model():
    """Rewards that are not finite (a user's environment gone wrong) stop the
    fit with a clear error; the model fitted before is untouched."""
    pytest.importorskip("gymnasium")
    from sklearn_meta.rl import GymnasiumTasks, Navigation2DEnv

    class BrokenEnv(Navigation2DEnv):
        def step(self, action):
            observation, _, terminated, truncated, info = super().step(action)
            return observation, float("nan"), terminated, truncated, info

    maml = small_maml().fit(NAVIGATION)
    weights = [p.detach().clone() for p in maml.policy_.parameters()]
    broken = GymnasiumTasks(BrokenEnv(horizon=3), n_episodes=2, horizon=3)
    with pytest.raises(FloatingPointError, match="not finite"):
        maml.set_params(warm_start=True).fit(broken)
    assert maml.n_iter_ == 2 and maml.family_ == NAVIGATION
    assert all(torch.equal(a, b) for a, b in zip(weights, maml.policy_.parameters(), strict=True))


def test_fit_leaves_the_callers_torch_random_state_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    small_rl2(max_iter=1).fit(BANDITS)
    assert torch.equal(torch.rand(3), expected)
