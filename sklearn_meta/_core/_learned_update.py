"""A learned inner-loop update rule: a coordinate-wise LSTM optimizer.

Each parameter coordinate feeds its (preprocessed) gradient to one small
LSTM, shared by all coordinates, whose output corrects a plain gradient step
(Andrychowicz et al. 2016; Ravi & Larochelle 2017). The output layer starts
at zero, so before meta-training the rule is exactly gradient descent.

The correction is ``lr * tanh(output)``: at most one step size per
coordinate and step. Unbounded, the rule learned on digits 4-way 1-shot to
cancel the gradient step altogether, and adaptation collapsed to uniform
predictions (25% accuracy against 66% bounded, 300 outer steps).

Speed: the rule runs on every coordinate at every inner step, and on CPU its
elementwise gate operations, not its matrix products, take most of the time.
So the state is kept feature-major, ``(hidden_size, n_coordinates)``: each
gate is a contiguous block of rows of one matrix product (elementwise kernels
on strided column blocks ran 3-5x slower), the input and hidden weights are
applied in one product over the stacked (2 + hidden_size) features (a
product with 2 inputs alone cost more than the hidden one), and the first
step, from the zero state, skips the hidden product and the forget gate. The
parameters, and what the rule computes, are those of ``nn.Linear`` layers
applied coordinate by coordinate (benchmarks/lstm_profile.py).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ._model import Params

_PREPROCESS_P = 10.0  # Andrychowicz et al.'s gradient preprocessing constant
# e^-p and e^p, rounded to float32 as ``torch.exp`` of a float32 tensor gives them.
_SMALL = float(torch.exp(torch.tensor(-_PREPROCESS_P)))
_SCALE = float(torch.exp(torch.tensor(_PREPROCESS_P)))

#: The state of the rule: hidden and cell, each ``(hidden_size, n_coordinates)``;
#: None is the zero state before the first step.
LSTMState = tuple[Tensor, Tensor] | None


def preprocessed_features(flat_grad: Tensor) -> tuple[Tensor, Tensor]:
    """The two features of each coordinate's gradient: (log|g| / p, sign g)
    for large gradients, (-1, e^p g) for tiny ones."""
    magnitude = flat_grad.abs()
    large = magnitude >= _SMALL
    first = torch.where(large, torch.log(magnitude.clamp_min(1e-30)) / _PREPROCESS_P, -1.0)
    second = torch.where(large, torch.sign(flat_grad), flat_grad * _SCALE)
    return first, second


class LSTMUpdate(nn.Module):
    """``φ ← φ − lr·g + lr·tanh(LSTM(g))``, coordinate-wise, with hidden state across steps."""

    def __init__(self, hidden_size: int = 20):
        super().__init__()
        self.hidden_size = hidden_size
        self.input_gates = nn.Linear(2, 4 * hidden_size)
        self.hidden_gates = nn.Linear(hidden_size, 4 * hidden_size, bias=False)
        self.output = nn.Linear(hidden_size, 1)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def initial_state(self, params: Params) -> LSTMState:
        """The zero state (None: the first step knows it and skips its products)."""
        return None

    def forward(
        self, params: Params, grads: Params, state: LSTMState, lr: float
    ) -> tuple[Params, tuple[Tensor, Tensor]]:
        flat_grad = torch.cat([grads[name].reshape(-1) for name in params])
        first, second = preprocessed_features(flat_grad)
        if state is None:  # zero hidden and cell: only the input weights act
            features = torch.stack([first, second])
            weight = self.input_gates.weight
        else:
            hidden, cell = state
            features = torch.cat([first.unsqueeze(0), second.unsqueeze(0), hidden])
            weight = torch.cat([self.input_gates.weight, self.hidden_gates.weight], dim=1)
        i, f, g, o = _affine(weight, self.input_gates.bias, features).chunk(4)
        cell_input = torch.sigmoid(i) * torch.tanh(g)
        cell = cell_input if state is None else torch.sigmoid(f) * cell + cell_input
        hidden = torch.sigmoid(o) * torch.tanh(cell)
        correction = _affine(self.output.weight, self.output.bias, hidden)
        step = lr * (torch.tanh(correction.squeeze(0)) - flat_grad)
        sizes = [p.numel() for p in params.values()]
        updated = {
            name: p + delta.reshape(p.shape)
            for (name, p), delta in zip(params.items(), step.split(sizes), strict=True)
        }
        return updated, (hidden, cell)


def _affine(weight: Tensor, bias: Tensor, features: Tensor) -> Tensor:
    """``weight @ features + bias[:, None]`` as one batched product: under
    ``vmap`` the result comes out contiguous (``addmm`` there transposes)."""
    product = torch.baddbmm(bias[None, :, None], weight.unsqueeze(0), features.unsqueeze(0))
    return product.squeeze(0)
