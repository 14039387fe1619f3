"""The interface every algorithm's torch module implements."""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.func import functional_call

from ._inner import InnerLoop, split_steps_kept
from ._model import Params, materialize
from ._norms import Chunks, support_statistics

#: Rows of a support set that pass through the network at once when adapting
#: outside meta-training (``adapt_in_chunks``): what bounds the memory of
#: adapting to all the training classes after ``fit``.
SUPPORT_CHUNK_ROWS = 1024


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

    @property
    def backbone(self) -> nn.Module:
        """The meta-learned feature extractor: inputs to the embedding that
        the head (or the distance to prototypes) works on."""
        return self.model.backbone

    def adapt(self, x: Tensor, y: Tensor, n_outputs: int, loop: InnerLoop) -> Params:
        """The state adapted to one support set ``(x, y)`` with ``n_outputs`` outputs."""
        raise NotImplementedError

    def adapt_in_chunks(self, x: Tensor, y: Tensor, n_outputs: int, loop: InnerLoop) -> Params:
        """``adapt`` to one support set of any size, outside meta-training
        (``loop.plain_autograd``), in bounded memory: a support set of at
        most ``SUPPORT_CHUNK_ROWS`` rows takes ``adapt`` itself, bit for bit,
        a larger one :meth:`adapt_by_chunks`."""
        if fits_one_chunk(x):
            return self.adapt(x, y, n_outputs, loop)
        return self.adapt_by_chunks(x, y, n_outputs, loop)

    def adapt_by_chunks(self, x: Tensor, y: Tensor, n_outputs: int, loop: InnerLoop) -> Params:
        """``adapt`` passing at most ``SUPPORT_CHUNK_ROWS`` rows through the
        network at once (see :func:`support_chunks`). Learners override it;
        this default adapts in one batch."""
        return self.adapt(x, y, n_outputs, loop)

    def adapt_and_predict(
        self, x_support: Tensor, y_support: Tensor, x_query: Tensor, n_outputs: int, loop: InnerLoop
    ) -> tuple[Tensor, Tensor]:
        """Outputs for ``x_query`` after adapting to the support set, and the
        number of adaptation steps kept (fewer than ``loop.steps`` when a
        guarded loop stopped a divergence; see ``guarded_steps``)."""
        state, steps_kept = split_steps_kept(self.adapt(x_support, y_support, n_outputs, loop))
        if steps_kept is None:
            steps_kept = torch.tensor(loop.steps, device=x_query.device)
        return self.predict_with(state, x_query), steps_kept

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


class AdaptedState(nn.Module):
    """A frozen copy of a learner with one task's adapted state as buffers:
    inputs to outputs, by the learner's ``predict_with``. The ``materialize``
    of learners whose state is not the network's parameters (prototypes,
    centroids, an embedded support set)."""

    def __init__(self, learner: Learner, state: Params):
        super().__init__()
        self.learner = copy.deepcopy(learner).requires_grad_(False)
        self.state_names = tuple(state)
        for name, value in state.items():
            self.register_buffer(name, value.detach().clone())
        self.eval()

    def forward(self, x: Tensor) -> Tensor:
        state = {name: getattr(self, name) for name in self.state_names}
        return self.learner.predict_with(state, x)


def fits_one_chunk(x: Tensor) -> bool:
    """Whether the rows of ``x`` pass through the network at once (at most
    ``SUPPORT_CHUNK_ROWS``): ``adapt_in_chunks`` then is ``adapt``."""
    return x.shape[0] <= SUPPORT_CHUNK_ROWS


def support_chunks(n_rows: int) -> Chunks:
    """``(start, stop)`` of the chunks of ``n_rows`` rows: as few as hold at
    most ``SUPPORT_CHUNK_ROWS`` rows each, of even sizes."""
    n_chunks = max(1, -(-n_rows // SUPPORT_CHUNK_ROWS))
    bounds = [round(i * n_rows / n_chunks) for i in range(n_chunks + 1)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def embed_in_chunks(module: nn.Module, x: Tensor) -> Tensor:
    """``module(x)`` computed by chunks of rows (see :func:`support_chunks`),
    without gradients, batch norm normalizing with the statistics of all of ``x``."""
    chunks = support_chunks(x.shape[0])
    with torch.no_grad(), support_statistics(module) as statistics:
        if statistics is not None:
            statistics.collect(lambda start, stop: module(x[start:stop]), chunks)
        outputs = []
        for start, stop in chunks:
            if statistics is not None:
                statistics.start()
            outputs.append(module(x[start:stop]))
    return torch.cat(outputs)
