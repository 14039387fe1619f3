"""Peak memory and time of ``fit`` on a large pool of classes, with the
post-fit adaptation to all the training classes in chunks of
``SUPPORT_CHUNK_ROWS`` rows (now) or in one batch (before).

Each configuration runs in a fresh subprocess and reports its peak resident
memory (``ru_maxrss``) and its ``fit`` time. The data are synthetic and
Omniglot-sized: 28x28 single-channel images, ``--per-class`` samples of each
class (Omniglot's rotated training pool has 3,856 classes of 20), Conv4,
``max_iter=2``, ``meta_batch_size=2``, ``n_way=5``: the time is mostly the post-fit adaptation.
"Before" sets ``SUPPORT_CHUNK_ROWS`` so high that every support set is one
batch (ProtoNet then embeds in batches of 4,096 rows, each normalized with
its own batch statistics, as before).

    python benchmarks/large_pool_memory.py --maml-classes 3856 --protonet-classes 3856
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

HUGE = 10**9


def run_one(algorithm: str, n_classes: int, per_class: int, one_batch: bool, steps: int) -> dict:
    """Fit once in this process; the peak resident memory and the fit time."""

    from sklearn_meta import MAMLClassifier, ProtoNetClassifier
    from sklearn_meta._core import _learner

    if one_batch:
        _learner.SUPPORT_CHUNK_ROWS = HUGE
    rng = np.random.default_rng(0)
    # Structured: each class a random 28x28 template plus noise.
    templates = rng.random((n_classes, 784), dtype=np.float32)
    X = np.repeat(templates, per_class, axis=0)
    X += 0.3 * rng.standard_normal(X.shape, dtype=np.float32)
    y = np.repeat(np.arange(n_classes), per_class)
    common = dict(
        module="conv4",
        input_shape=(1, 28, 28),
        n_way=5,
        n_shots=1,
        n_queries=per_class - 1,
        max_iter=2,
        meta_batch_size=2,
        device="cpu",
        random_state=0,
    )
    if algorithm == "maml":
        clf = MAMLClassifier(eval_inner_steps=steps, first_order=True, **common)
    else:
        clf = ProtoNetClassifier(**common)
    start = time.perf_counter()
    clf.fit(X, y)
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {"peak_gib": peak_kib / 2**20, "fit_s": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maml-classes", type=int, default=3856)
    parser.add_argument("--protonet-classes", type=int, default=3856)
    parser.add_argument(
        "--one-batch-classes",
        type=int,
        default=None,
        help="cap the classes of the one-batch (before) rows (default: same)",
    )
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--steps", type=int, default=1, help="MAML's eval_inner_steps")
    parser.add_argument("--child", type=str, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(**json.loads(args.child))))
        return
    rows = []
    for algorithm, n_classes in (("maml", args.maml_classes), ("protonet", args.protonet_classes)):
        for one_batch in (True, False):
            classes = n_classes
            if one_batch and args.one_batch_classes is not None:
                classes = min(classes, args.one_batch_classes)
            config = dict(
                algorithm=algorithm,
                n_classes=classes,
                per_class=args.per_class,
                one_batch=one_batch,
                steps=args.steps,
            )
            done = subprocess.run(
                [sys.executable, __file__, "--child", json.dumps(config)],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                result = {"peak_gib": float("nan"), "fit_s": float("nan")}
                print(done.stderr[-2000:], file=sys.stderr)
            else:
                result = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append((algorithm, classes, classes * args.per_class, one_batch, result))
            print(rows[-1], file=sys.stderr, flush=True)
    print("| algorithm | classes | rows | adaptation | peak RSS (GiB) | fit (s) |")
    print("|---|---:|---:|---|---:|---:|")
    for algorithm, classes, n_rows, one_batch, result in rows:
        mode = "one batch (before)" if one_batch else "chunks of 1024 rows (now)"
        print(
            f"| {algorithm} | {classes} | {n_rows} | {mode} | "
            f"{result['peak_gib']:.2f} | {result['fit_s']:.1f} |"
        )


if __name__ == "__main__":
    main()
