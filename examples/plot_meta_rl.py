"""
=====================================================
Meta-RL: a policy that learns a bandit in a few pulls
=====================================================

RL² (Duan et al. 2016; Wang et al. 2016) meta-trains a recurrent policy
across many bandits. Each trial is 10 pulls of one Bernoulli bandit with 5
arms whose win probabilities it does not know; the policy sees the arm it
pulled and whether it won, and its hidden state carries that over the
pulls. Meta-training maximizes the total reward of whole trials, so the
network learns to explore a new bandit and then pull the arm that looks
best: learning a bandit is what its recurrence does, with no gradient step
on the new task.

Here :class:`~sklearn_meta.rl.RL2Policy` is compared on held-out bandits,
pull by pull, with classical algorithms designed by hand for this problem:
UCB1, Thompson sampling and the Gittins index, and random pulls. The
training budget is tiny so that the example runs in seconds; the benchmark
of ``benchmarks/RESULTS.md`` trains for longer.
"""

# %%
# Bandit tasks
# ------------
# A :class:`~sklearn_meta.rl.BanditTasks` family is a distribution over
# bandits (arm means uniform in [0, 1]) and a trial protocol: here 10 pulls
# per trial. Its task sets step every bandit at once as tensors.
import matplotlib.pyplot as plt
import numpy as np
import torch

from sklearn_meta.rl import BanditTasks, RL2Policy, baseline_agents, run_trial

torch.set_num_threads(1)  # a GRU of 32 units gains nothing from more threads

family = BanditTasks(n_arms=5, n_episodes=10)

# %%
# Meta-train RL²
# --------------
# Each outer step runs trials on ``meta_batch_size`` fresh bandits and
# takes PPO steps on them (``n_epochs`` passes in minibatches of
# ``batch_size`` trials). ``train_returns_`` is the mean total reward of
# each step's trials: random pulls earn 5 per trial on average. A small
# network and a larger step size than the default keep the run short.
rl2 = RL2Policy(
    hidden_size=32,
    meta_batch_size=128,
    batch_size=32,
    learning_rate_init=5e-3,
    max_iter=100,
    device="cpu",
    random_state=0,
).fit(family)

# %%
# RL² against the classical baselines, pull by pull
# -------------------------------------------------
# All agents run on the same 1000 held-out bandits. ``score`` is RL²'s
# mean total reward of a trial, and ``episode_returns`` the reward of each
# episode (here each pull) of those trials, one row per bandit.
# :func:`~sklearn_meta.rl.run_trial` runs each baseline of
# :func:`~sklearn_meta.rl.baseline_agents` and returns its rewards at every
# pull (a :class:`~sklearn_meta.rl.Trial`).
test = family.sample(1000, random_state=1)
print(f"RL²: {rl2.score(test):.2f} per trial of 10 pulls")

rewards = {"RL²": rl2.episode_returns(test).mean(0)}  # mean reward at each pull
for name, agent in baseline_agents(family).items():
    trial = run_trial(agent, test, torch.Generator().manual_seed(0))
    rewards[name] = trial.rewards.mean(1).numpy()  # mean reward at each pull
    print(f"{name}: {trial.returns.mean():.2f} per trial")

# %%
# The left panel is meta-training; the right one is the held-out bandits.
# The best arm of a bandit pays its mean at every pull (the dotted line):
# an agent that knew the bandit would earn that from the first pull. Every
# agent starts at chance, 0.5; the better ones climb toward the best arm
# as they learn which it is. UCB1 first pulls every arm once, so it
# exploits from the sixth pull on. With 1000 bandits, each point is within
# about ±0.03 of its expectation (95%).
pulls = np.arange(1, family.n_episodes + 1)
fig, (ax_train, ax_pulls) = plt.subplots(1, 2, figsize=(11, 4))
ax_train.plot(np.arange(1, rl2.n_iter_ + 1), rl2.train_returns_)
ax_train.axhline(5.0, color="grey", linestyle="--", label="random pulls")
ax_train.set(xlabel="outer step", ylabel="total reward per trial", title="Meta-training RL²")
ax_train.legend()
for name, curve in rewards.items():
    ax_pulls.plot(pulls, curve, marker="o", label=name, linewidth=2 if name == "RL²" else 1)
best = test.arm_means.max(1).values.mean().item()
ax_pulls.axhline(best, color="grey", linestyle=":", label="best arm")
ax_pulls.set(xlabel="pull", ylabel="mean reward", title="Held-out bandits", xticks=pulls)
ax_pulls.legend(loc="center left", bbox_to_anchor=(1, 0.5))
fig.tight_layout()
plt.show()

# %%
# Adapt to one bandit, then act with ``predict``
# ----------------------------------------------
# ``adapt`` runs a trial of the family's 10 pulls on one new bandit and
# returns the policy in the state those pulls left it in. Its ``predict``
# is stable-baselines3's; called without ``reward=``, the state stays where
# the adaptation left it, and the deterministic policy keeps pulling the
# arm it prefers after those 10 pulls. Here it plays the bandit's gymnasium
# environment (``make_env``).
task = test[0]  # a task set of one bandit
policy = rl2.adapt(task)
env = task.make_env(0)
observation, info = env.reset(seed=0)
print("arm means:", np.round(env.arm_means, 2))
won = 0
for _ in range(100):  # every pull is an episode of the bandit's environment
    action, state = policy.predict(observation, deterministic=True)
    observation, reward, terminated, truncated, info = env.step(action)
    won += reward
    if terminated or truncated:
        observation, info = env.reset()
print(f"the adapted policy pulls arm {action} and wins {won:.0f} of 100 pulls")

# %%
# One bandit says little. Over 200 held-out bandits, the mean of the arm
# that the adapted policy then pulls, against the best arm's and an arm's
# on average:
picked = []
for i in range(200):
    action, _ = rl2.adapt(test[i]).predict([0.0], deterministic=True)
    picked.append(test.arm_means[i, action].item())
means = test.arm_means[:200]
print(f"arm picked after 10 pulls: {np.mean(picked):.2f}")
print(f"best arm: {means.max(1).values.mean():.2f}, any arm: {means.mean():.2f}")
