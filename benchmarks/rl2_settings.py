"""RL²'s settings on one task family: meta-train, then score on held-out tasks.

The study behind the settings of ``sklearn-meta benchmark rl``
(benchmarks/RESULTS.md, "Meta-RL"). Prints the fit time, the mean training
return of each tenth of the steps, and ``score`` on the family (1,000
held-out tasks drawn from ``random_state``).

    python benchmarks/rl2_settings.py bandits --episodes 100 --max-iter 300 \\
        --set entropy_coef=0.001 learning_rate=linear
    python benchmarks/rl2_settings.py bandits --episodes 10 --max-iter 200 \\
        --then-episodes 100 --then-max-iter 300     # a curriculum (warm_start)
"""

from __future__ import annotations

import argparse
import ast
import time

import numpy as np

from sklearn_meta.rl import BanditTasks, RL2Policy, TabularMDPTasks


def family_of(name: str, n_episodes: int, n_arms: int):
    if name == "bandits":
        return BanditTasks(n_arms=n_arms, n_episodes=n_episodes)
    return TabularMDPTasks(n_episodes=n_episodes)


def setting(text: str) -> tuple[str, object]:
    name, _, value = text.partition("=")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("family", choices=["bandits", "mdps"])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--arms", type=int, default=5)
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument("--then-episodes", type=int, help="continue on trials this long")
    parser.add_argument("--then-max-iter", type=int, default=300)
    parser.add_argument("--set", nargs="*", type=setting, default=[], metavar="NAME=VALUE")
    parser.add_argument("--random-state", type=int, default=0)
    args = parser.parse_args()

    params = dict(max_iter=args.max_iter, random_state=args.random_state, n_eval_tasks=1000)
    learner = RL2Policy(**(params | dict(args.set)))
    stages = [(args.episodes, args.max_iter)]
    if args.then_episodes:
        stages.append((args.then_episodes, args.then_max_iter))
    start = time.perf_counter()
    for stage, (n_episodes, max_iter) in enumerate(stages):
        family = family_of(args.family, n_episodes, args.arms)
        learner.set_params(max_iter=max_iter, warm_start=stage > 0).fit(family)
        returns = np.array(learner.train_returns_[-max_iter:])
        parts = np.array_split(returns, min(10, len(returns)))
        tenths = [round(float(part.mean()), 2) for part in parts]
        print(f"{family!r}: fit {time.perf_counter() - start:.0f} s, training returns {tenths}")
        print(f"  score {learner.score(family):.2f}", flush=True)


if __name__ == "__main__":
    main()
