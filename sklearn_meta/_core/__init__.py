"""The functional torch core shared by every estimator.

- ``_episodes``: tasks indexed once, episodes drawn as index arrays.
- ``_model``: backbones with a shared-row head, devices, parameter dicts.
- ``_inner``: the functional inner loop (``torch.func.grad``).
- ``_learned_update``: a learned (LSTM) inner update rule.
- ``_learner``: the interface of an algorithm's torch module.
- ``_meta``: episodes as tensors, ``vmap`` or loop over a meta-batch, the outer step.
- ``_tasks``: losses and per-episode scores for regression and classification,
  class probabilities from logits.
"""
