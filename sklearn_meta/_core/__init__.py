"""The functional torch core shared by every estimator.

- ``_episodes``: tasks indexed once, episodes drawn as index arrays.
- ``_model``: backbones with a shared-row head, devices, parameter dicts.
- ``_inner``: the functional inner loop (``torch.func.grad``).
- ``_meta``: episodes as tensors, ``vmap`` or loop over a meta-batch, the outer step.
- ``_tasks``: losses and per-episode scores for regression and classification.
"""
