"""The policy-gradient core against brute force and hand computation."""

import itertools

import torch

from sklearn_meta.rl._policy_gradient import (
    clipped_surrogate,
    discounted_returns,
    generalized_advantages,
    head_entropy,
    head_log_prob,
    linear_feature_baseline,
    reinforce_loss,
)

# A 2-state, 2-action MDP, horizon 2, deterministic transitions: action a
# leads to state a; reward R[s, a].
REWARD = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)


def _trajectories():
    """Every trajectory from state 0: (states, actions, rewards)."""
    for a0, a1 in itertools.product(range(2), repeat=2):
        states = (0, a0)
        actions = (a0, a1)
        yield states, actions, [REWARD[s, a] for s, a in zip(states, actions, strict=True)]


def _probability(logits, states, actions):
    log_p = torch.log_softmax(logits, -1)
    return torch.exp(sum(log_p[s, a] for s, a in zip(states, actions, strict=True)))


def test_reinforce_is_the_gradient_of_the_expected_return():
    """The expectation of REINFORCE's gradient (reward-to-go, a state baseline),
    summed over every trajectory, is the exact gradient of the expected return.
    (With γ < 1 the reward-to-go estimator drops the γ^t weights, as
    practice does; the identity is exact for γ = 1.)"""
    gamma = 1.0
    logits = torch.tensor([[0.3, -0.2], [0.1, 0.4]], dtype=torch.float64, requires_grad=True)
    baseline = torch.tensor([0.7, -1.3], dtype=torch.float64)  # any function of the state

    expected_return = sum(
        _probability(logits, s, a) * (r[0] + gamma * r[1]) for s, a, r in _trajectories()
    )
    (exact,) = torch.autograd.grad(expected_return, logits)

    estimate = torch.zeros_like(logits)
    for states, actions, rewards in _trajectories():
        weight = _probability(logits, states, actions).detach()
        returns = discounted_returns(torch.stack(rewards)[:, None], gamma)[:, 0]
        log_probs = head_log_prob(logits[list(states)], None, torch.tensor(actions), True)
        advantages = returns - baseline[list(states)]
        # reinforce_loss is a mean over the 2 steps; the gradient is the sum.
        (gradient,) = torch.autograd.grad(-2 * reinforce_loss(log_probs, advantages), logits)
        estimate += weight * gradient
    torch.testing.assert_close(estimate, exact)


def test_gaussian_log_prob_and_entropy_match_torch_distributions():
    mean = torch.tensor([[0.2, -0.1], [0.0, 0.3]])
    log_std = torch.tensor([-1.0, 0.5])
    action = torch.tensor([[0.1, 0.1], [-0.4, 0.2]])
    normal = torch.distributions.Normal(mean, log_std.exp())
    torch.testing.assert_close(
        head_log_prob(mean, log_std, action, False), normal.log_prob(action).sum(-1)
    )
    torch.testing.assert_close(head_entropy(mean, log_std, False), normal.entropy().sum(-1))


def test_discounted_returns_restart_at_each_episode():
    rewards = torch.tensor([1.0, 2.0, 3.0, 4.0])[:, None]
    returns = discounted_returns(rewards, 0.5, horizon=2)[:, 0]
    torch.testing.assert_close(returns, torch.tensor([2.0, 2.0, 5.0, 4.0]))


def test_generalized_advantages_by_hand():
    rewards = torch.tensor([1.0, 0.0, 2.0])[:, None]
    values = torch.tensor([0.5, 1.0, 1.5])[:, None]
    gamma = 0.9
    deltas = [1 + gamma * 1.0 - 0.5, 0 + gamma * 1.5 - 1.0, 2 - 1.5]
    td, targets = generalized_advantages(rewards, values, gamma, 0.0)
    torch.testing.assert_close(td[:, 0], torch.tensor(deltas))
    monte_carlo, _ = generalized_advantages(rewards, values, gamma, 1.0)
    returns = discounted_returns(rewards, gamma)
    torch.testing.assert_close(monte_carlo, returns - values)
    torch.testing.assert_close(targets, td + values)


def test_clipped_surrogate_equals_reinforce_at_the_collecting_policy():
    logits = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), requires_grad=True)
    actions = torch.tensor([0, 2, 1, 1, 0])
    advantages = torch.tensor([1.0, -0.5, 0.3, 2.0, -1.0])
    log_probs = head_log_prob(logits, None, actions, True)
    ppo_loss = clipped_surrogate(log_probs, log_probs, advantages, 0.2)
    (ppo,) = torch.autograd.grad(ppo_loss, logits, retain_graph=True)
    (pg,) = torch.autograd.grad(reinforce_loss(log_probs, advantages), logits)
    torch.testing.assert_close(ppo, pg)


def test_clipped_surrogate_stops_pushing_past_the_clip():
    log_probs = torch.tensor([0.5], requires_grad=True)  # ratio e^0.5 > 1.2
    loss = clipped_surrogate(log_probs, torch.zeros(1), torch.ones(1), 0.2)
    (gradient,) = torch.autograd.grad(loss, log_probs)
    assert gradient.item() == 0.0


def test_linear_feature_baseline_fits_a_target_in_its_features():
    generator = torch.Generator().manual_seed(0)
    n_steps, n_tasks, n_episodes = 6, 3, 4
    observations = torch.randn(n_steps, n_tasks, n_episodes, 2, generator=generator)
    time = (torch.arange(n_steps).float() / 100)[:, None, None]
    slopes = torch.tensor([1.0, -2.0, 0.5])[None, :, None]  # one target per task
    returns = slopes * observations[..., 0] + 3 * time + observations[..., 1] ** 2
    fitted = linear_feature_baseline(observations, returns, horizon=n_steps, ridge=1e-9)
    torch.testing.assert_close(fitted, returns, atol=1e-3, rtol=1e-3)
