"""The LSTM update rule computes what the plain coordinate-wise LSTM computes."""

import pytest
import torch
from torch import nn

from sklearn_meta._core._learned_update import LSTMUpdate, preprocessed_features

TOLERANCE = {"rtol": 1e-5, "atol": 1e-6}


def reference_preprocess(flat_grad):
    """Andrychowicz et al.'s preprocessing, written as the first version of the rule."""
    large = flat_grad.abs() >= torch.exp(torch.tensor(-10.0))
    log_magnitude = torch.log(flat_grad.abs().clamp_min(1e-30)) / 10.0
    first = torch.where(large, log_magnitude, -torch.ones_like(flat_grad))
    second = torch.where(large, torch.sign(flat_grad), flat_grad * torch.exp(torch.tensor(10.0)))
    return torch.stack([first, second], dim=-1)


def reference_step(rule, params, grads, state, lr):
    """One step of the rule as ``nn.Linear`` layers over rows of coordinates;
    ``state`` is (hidden, cell), each (n_coordinates, hidden_size)."""
    flat_grad = torch.cat([grads[name].reshape(-1) for name in params])
    hidden, cell = state
    gates = rule.input_gates(reference_preprocess(flat_grad)) + rule.hidden_gates(hidden)
    i, f, g, o = gates.chunk(4, dim=-1)
    cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
    hidden = torch.sigmoid(o) * torch.tanh(cell)
    step = lr * (torch.tanh(rule.output(hidden).squeeze(-1)) - flat_grad)
    sizes = [p.numel() for p in params.values()]
    updated = {
        name: p + delta.reshape(p.shape)
        for (name, p), delta in zip(params.items(), step.split(sizes), strict=True)
    }
    return updated, (hidden, cell)


def reference_steps(rule, params, all_grads, lr):
    n_coordinates = sum(p.numel() for p in params.values())
    zeros = torch.zeros(n_coordinates, rule.hidden_size)
    state = (zeros, zeros)
    for grads in all_grads:
        params, state = reference_step(rule, params, grads, state, lr)
    return params, state


def steps(rule, params, all_grads, lr):
    state = rule.initial_state(params)
    for grads in all_grads:
        params, state = rule(params, grads, state, lr)
    return params, state


def trained_rule(seed=0, hidden_size=20):
    """A rule with every weight random (the output layer starts at zero)."""
    torch.manual_seed(seed)
    rule = LSTMUpdate(hidden_size)
    for parameter in rule.parameters():
        nn.init.normal_(parameter, std=0.5)
    return rule


def random_problem(n_steps=3, seed=1, batch=()):
    generator = torch.Generator().manual_seed(seed)
    shapes = {"layer.weight": (5, 3), "layer.bias": (5,), "head.weight": (2, 5)}
    params = {k: torch.randn(*batch, *s, generator=generator) for k, s in shapes.items()}
    # gradients over many magnitudes, tiny ones (below e^-10) and exact zeros included
    all_grads = []
    for _ in range(n_steps):
        grads = {}
        for name, shape in shapes.items():
            scale = 10.0 ** torch.randint(-8, 2, (*batch, *shape), generator=generator)
            grads[name] = torch.randn(*batch, *shape, generator=generator) * scale
        grads["layer.bias"][..., 0] = 0.0
        all_grads.append(grads)
    return params, all_grads


def test_preprocessing_is_unchanged():
    _, all_grads = random_problem(n_steps=1)
    flat = torch.cat([g.reshape(-1) for g in all_grads[0].values()])
    flat = torch.cat([flat, torch.tensor([4.5399e-05, 4.5400e-05, -1e-12, 0.0, 1e3])])
    features = torch.stack(preprocessed_features(flat), dim=-1)
    torch.testing.assert_close(features, reference_preprocess(flat), **TOLERANCE)


@pytest.mark.parametrize("hidden_size", [20, 3])
def test_steps_match_the_plain_lstm(hidden_size):
    rule = trained_rule(hidden_size=hidden_size)
    params, all_grads = random_problem(n_steps=4)
    with torch.no_grad():
        updated, (hidden, cell) = steps(rule, params, all_grads, lr=0.4)
        expected, (expected_hidden, expected_cell) = reference_steps(rule, params, all_grads, 0.4)
    assert updated.keys() == expected.keys()
    for name, value in expected.items():
        assert updated[name].shape == value.shape
        torch.testing.assert_close(updated[name], value, **TOLERANCE)
    # the state is kept feature-major: (hidden_size, n_coordinates)
    torch.testing.assert_close(hidden.T, expected_hidden, **TOLERANCE)
    torch.testing.assert_close(cell.T, expected_cell, **TOLERANCE)


def test_untrained_rule_is_gradient_descent():
    torch.manual_seed(0)
    rule = LSTMUpdate()
    params, all_grads = random_problem(n_steps=2)
    updated, _ = steps(rule, params, all_grads, lr=0.1)
    for name, value in params.items():
        expected = value - 0.1 * all_grads[0][name] - 0.1 * all_grads[1][name]
        torch.testing.assert_close(updated[name], expected, **TOLERANCE)


def _meta_loss(step_fn, rule, params, all_grads):
    updated, _ = step_fn(rule, params, all_grads, 0.4)
    return sum((value.sin() * (k + 1)).sum() for k, value in enumerate(updated.values()))


def test_vmap_and_gradients_match_the_plain_lstm():
    """Under ``vmap`` over episodes, as in meta-training: the same losses, and
    the same gradients to the rule's weights, the parameters and the inner
    gradients (which carry the second-order terms)."""
    n_episodes = 4
    results = []
    for step_fn in (steps, reference_steps):
        rule = trained_rule()
        params, all_grads = random_problem(n_steps=3, batch=(n_episodes,))
        leaves = [params, *all_grads]
        for tensors in leaves:
            for value in tensors.values():
                value.requires_grad_()

        def episode(params, *all_grads, step_fn=step_fn, rule=rule):
            return _meta_loss(step_fn, rule, params, all_grads)

        losses = torch.func.vmap(episode)(params, *all_grads)
        losses.sum().backward()
        gradients = [p.grad for p in rule.parameters()]
        gradients += [value.grad for tensors in leaves for value in tensors.values()]
        results.append((losses.detach(), gradients))
    (losses, gradients), (expected_losses, expected_gradients) = results
    torch.testing.assert_close(losses, expected_losses, **TOLERANCE)
    for gradient, expected in zip(gradients, expected_gradients, strict=True):
        torch.testing.assert_close(gradient, expected, **TOLERANCE)


def test_vmap_matches_a_loop_over_episodes():
    rule = trained_rule()
    params, all_grads = random_problem(n_steps=3, batch=(3,))

    def episode(params, *all_grads):
        return _meta_loss(steps, rule, params, all_grads)

    with torch.no_grad():
        batched = torch.func.vmap(episode)(params, *all_grads)
        looped = torch.stack(
            [
                episode(
                    {k: v[e] for k, v in params.items()},
                    *({k: v[e] for k, v in g.items()} for g in all_grads),
                )
                for e in range(3)
            ]
        )
    torch.testing.assert_close(batched, looped, **TOLERANCE)


def test_parameters_keep_their_names_and_shapes():
    """Checkpoints store the rule's state_dict: its keys and shapes must not change."""
    shapes = {name: tuple(value.shape) for name, value in LSTMUpdate().state_dict().items()}
    assert shapes == {
        "input_gates.weight": (80, 2),
        "input_gates.bias": (80,),
        "hidden_gates.weight": (80, 20),
        "output.weight": (1, 20),
        "output.bias": (1,),
    }
