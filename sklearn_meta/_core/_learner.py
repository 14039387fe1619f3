"""The interface every algorithm's torch module implements."""

from __future__ import annotations

from torch import Tensor, nn
from torch.func import functional_call

from ._inner import InnerLoop
from ._model import Params, materialize


class Learner(nn.Module):
    """Adapt to a support set, predict with the adapted state, and the loss
    meta-training minimizes.

    Subclasses implement ``adapt``. The defaults treat the adapted state as
    parameters of the network ``model`` (learners whose state is something
    else, such as prototypes, override ``predict_with`` and ``materialize``)
    and take the query loss after adapting as the episode's loss. Every
    method runs under ``torch.func.vmap`` over episodes.
    """

    model: nn.Module

    def adapt(self, x: Tensor, y: Tensor, n_outputs: int, loop: InnerLoop) -> Params:
        """The state adapted to one support set ``(x, y)`` with ``n_outputs`` outputs."""
        raise NotImplementedError

    def predict_with(self, params: Params, x: Tensor) -> Tensor:
        """Outputs for ``x``: shape (n, 1) for regression, logits for classification."""
        return functional_call(self.model, params, (x,))

    def materialize(self, params: Params) -> nn.Module:
        """A standalone module holding an adapted state."""
        return materialize(self.model, params)

    def episode_loss(
        self,
        x_support: Tensor,
        y_support: Tensor,
        x_query: Tensor,
        y_query: Tensor,
        n_outputs: int,
        loop: InnerLoop,
    ) -> Tensor:
        """The query loss after adapting on the support."""
        adapted = self.adapt(x_support, y_support, n_outputs, loop)
        return loop.kind.loss(self.predict_with(adapted, x_query), y_query)
