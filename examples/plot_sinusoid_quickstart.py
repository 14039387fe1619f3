"""
=============================================
Quickstart: MAML against a baseline on sines
=============================================

Meta-train MAML (Finn et al. 2017) on sine-wave regression tasks
``y = A sin(x - φ)``, then fit a sine it has never seen from 5 examples.

The baseline gets the same network and the same training budget but no
inner loop (``inner_steps=0``): it is one network trained on the pooled
tasks, i.e. ordinary supervised learning on all the data. Both are then
adapted to the new task with the same 10 gradient steps. The baseline has
learned the average of all the sines, one curve, and a few steps move it
only part of the way toward a new one; MAML has learned an initialization
from which a few steps fit any sine.

The training budget here is tiny so that the example runs in seconds; the
``sklearn-meta demo`` command trains for 7000 steps.
"""

# %%
# Sine tasks
# ----------
# Every group of ``make_sinusoid_tasks`` is one task: a sine with its own
# amplitude in [0.1, 5] and phase in [0, π], sampled at 20 points.
import matplotlib.pyplot as plt
import numpy as np
import torch

from sklearn_meta import MAMLRegressor
from sklearn_meta.datasets import make_sinusoid_tasks

torch.set_num_threads(1)  # these small networks gain nothing from more threads

X, y, groups = make_sinusoid_tasks(n_tasks=200, n_samples_per_task=20, random_state=0)
X.shape, len(np.unique(groups))

# %%
# Meta-train MAML and the pooled baseline
# ---------------------------------------
# Each outer step draws ``meta_batch_size`` tasks, adapts to 10 support
# points of each with one gradient step, and learns from the loss on 10
# query points. ``inner_steps=0`` turns the same estimator into the
# non-meta baseline.
settings = dict(
    n_shots=10,
    n_queries=10,
    meta_batch_size=10,
    meta_lr=0.01,
    max_iter=400,
    device="cpu",
    random_state=0,
)
maml = MAMLRegressor(inner_steps=1, **settings).fit(X, y, groups=groups)
baseline = MAMLRegressor(inner_steps=0, **settings).fit(X, y, groups=groups)

# %%
# Episodic meta-evaluation on unseen tasks
# ----------------------------------------
# ``score`` draws episodes from held-out tasks, adapts to each support set
# and reports R² on the queries, pooled over the episodes.
X_test, y_test, groups_test = make_sinusoid_tasks(100, 20, random_state=1)
for name, model in [("MAML", maml), ("baseline", baseline)]:
    print(f"{name:>8}: R² on unseen tasks = {model.score(X_test, y_test, groups_test):.2f}")

# %%
# Fit a new sine from 5 examples
# ------------------------------
# ``adapt`` returns an ordinary fitted estimator for the new task; the
# meta-estimator itself is not changed.
X_new, y_new, _ = make_sinusoid_tasks(n_tasks=1, n_samples_per_task=105, random_state=3)
X_support, y_support = X_new[:5], y_new[:5]
grid = np.linspace(-5, 5, 200).reshape(-1, 1)
order = np.argsort(X_new[5:, 0])

fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
for ax, (name, model) in zip(axes, [("MAML", maml), ("baseline", baseline)], strict=True):
    task = model.adapt(X_support, y_support, inner_steps=10)
    ax.plot(X_new[5:][order, 0], y_new[5:][order], "k-", lw=1, label="true task")
    ax.plot(grid[:, 0], model.predict(grid), ":", label="before adapting")
    ax.plot(grid[:, 0], task.predict(grid), "-", label="after 10 steps")
    ax.plot(X_support[:, 0], y_support, "o", color="C3", label="5 examples")
    r2 = task.score(X_new[5:], y_new[5:])
    ax.set(title=f"{name} (R² = {r2:.2f})", xlabel="x")
axes[0].set_ylabel("y")
axes[0].legend(loc="lower left")
fig.tight_layout()
plt.show()
