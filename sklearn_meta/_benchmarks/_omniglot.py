"""N-way K-shot classification on Omniglot, read from a local copy of its files.

Meta-training on the "background" set with rotations by 90, 180 and 270
degrees as new characters (964 characters x 4), testing on the 659
characters of the "evaluation" set (no rotations), 28x28 images, the Conv4
backbone; 5-way and 20-way, 1 and 5 shots, every learner beside the
fine-tuning baseline and beside its published numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..datasets import load_omniglot
from ..datasets._omniglot import _find_source, _import_pillow
from ._classification import fit_times, learner_table
from ._learners import SHOTS, Column, FewShotData, evaluate_learners, with_baseline
from ._report import Progress

ALGORITHMS = ("protonet", "maml", "finetune")
WAYS = (5, 20)
MAX_ITER = 10_000
IMAGE_SIZE = 28
POOL = "Omniglot"
BACKBONE = dict(module="conv4", input_shape=(1, IMAGE_SIZE, IMAGE_SIZE))


def _published(values: dict[tuple[int, int], str]) -> dict[Column, str]:
    return {(POOL, way, shots): text for (way, shots), text in values.items()}


#: Published accuracies (%) on Omniglot with the Conv4 backbone, from the
#: papers that introduced each learner (their split and protocol, see the notes).
PUBLISHED = {
    "maml": (
        "Finn et al. 2017",
        _published({(5, 1): "98.7 ± 0.4", (5, 5): "99.9 ± 0.1", (20, 1): "95.8 ± 0.3",
                    (20, 5): "98.9 ± 0.2"}),
    ),
    "fomaml": (
        "first-order MAML in Nichol et al. 2018",
        _published({(5, 1): "98.3", (5, 5): "99.2", (20, 1): "89.4", (20, 5): "97.9"}),
    ),
    "reptile": (
        "Nichol et al. 2018",
        _published({(5, 1): "95.39", (5, 5): "98.90", (20, 1): "88.14", (20, 5): "96.65"}),
    ),
    "protonet": (
        "Snell et al. 2017",
        _published({(5, 1): "98.8", (5, 5): "99.7", (20, 1): "96.0", (20, 5): "98.9"}),
    ),
    "metasgd": (
        "Li et al. 2017",
        _published({(5, 1): "99.53", (5, 5): "99.93", (20, 1): "95.9", (20, 5): "99.0"}),
    ),
    "anil": ("Raghu et al. 2019", _published({(20, 1): "96.2 ± 0.5", (20, 5): "98.0 ± 0.3"})),
}  # fmt: skip


def default_queries(n_way: int) -> int:
    """Query samples per class: 15, or 5 above 5-way (20-way episodes of 15
    queries hold 400 images, which second-order MAML's meta-batches multiply)."""
    return 15 if n_way <= 5 else 5


def check_omniglot(path: str | Path) -> None:
    """Raise now if Omniglot cannot be read from ``path`` (Pillow, both subsets)."""
    _import_pillow()
    for subset in ("background", "evaluation"):
        _find_source(Path(path).expanduser(), subset)


def load_omniglot_benchmark(path: str | Path, within_alphabet: bool = False) -> FewShotData:
    """Background with rotations to train on, evaluation without them to test on.

    With ``within_alphabet`` the alphabets are the groups: every episode's
    classes come from one alphabet (Lake et al. 2015's harder task);
    otherwise from all characters, as the published numbers.
    """
    X_train, y_train, groups_train = load_omniglot(
        path, subset="background", image_size=IMAGE_SIZE, rotations=True, return_X_y=True
    )
    X_test, y_test, groups_test = load_omniglot(
        path, subset="evaluation", image_size=IMAGE_SIZE, return_X_y=True
    )
    if not within_alphabet:
        groups_train = groups_test = None
    return FewShotData(X_train, y_train, groups_train, X_test, y_test, groups_test)


def run_omniglot(
    path: str | Path,
    *,
    algorithms: Sequence[str] = ALGORITHMS,
    ways: Sequence[int] = WAYS,
    shots: Sequence[int] = SHOTS,
    n_queries: int | None = None,
    train_way: int | None = None,
    within_alphabet: bool = False,
    max_iter: int = MAX_ITER,
    n_episodes: int = 600,
    device: str = "auto",
    random_state: int = 0,
    progress: Progress,
) -> str:
    """Every learner and the baseline on Omniglot, as a markdown section.

    Parameters
    ----------
    path : str or Path
        Folder with Omniglot's ``images_background`` and ``images_evaluation``
        (zip files or folders), as :func:`~sklearn_meta.datasets.load_omniglot` reads.
    algorithms : sequence of str, default=("protonet", "maml", "finetune")
        Learners; the fine-tuning baseline is always added.
    ways : sequence of int, default=(5, 20)
        Classes per test episode.
    shots : sequence of int, default=(1, 5)
        Shot counts.
    n_queries : int, default=None
        Query samples per class in training and test; None: :func:`default_queries`.
    train_way : int, default=None
        Classes per training episode; None: the way tested.
    within_alphabet : bool, default=False
        Draw each episode's classes from one alphabet.
    max_iter : int, default=10000
        Outer steps of every learner.
    n_episodes : int, default=600
        Test episodes per setting.
    device : str, default="auto"
        Torch device.
    random_state : int, default=0
        Seed of the training and the test episodes.
    progress : callable
        Receives one line per stage.

    Returns
    -------
    section : str
        Protocol, table beside the published numbers, fit times.
    """
    algorithms = with_baseline(algorithms)
    progress(f"omniglot: reading {path}")
    data = load_omniglot_benchmark(path, within_alphabet)
    results = []
    for n_way in ways:
        results += evaluate_learners(
            algorithms,
            data,
            pool=POOL,
            n_way=n_way,
            shots=shots,
            n_queries=default_queries(n_way) if n_queries is None else n_queries,
            train_way=train_way,
            max_iter=max_iter,
            n_episodes=n_episodes,
            device=device,
            random_state=random_state,
            params=BACKBONE,
            progress=progress,
        )
    return "\n\n".join(
        [
            "## Omniglot N-way K-shot classification (Conv4)",
            _protocol(data, ways, n_queries, train_way, within_alphabet, max_iter, n_episodes),
            learner_table(results, PUBLISHED),
            fit_times(results),
            _DIFFERENCES,
        ]
    )


def _protocol(data, ways, n_queries, train_way, within_alphabet, max_iter, n_episodes) -> str:
    queries = ", ".join(
        f"{default_queries(w) if n_queries is None else n_queries} for {w}-way" for w in ways
    )
    training_way = "as many classes as tested" if train_way is None else f"{train_way} classes"
    episodes = "one alphabet" if within_alphabet else "all characters"
    return (
        f"Meta-trained on Omniglot's background set with rotations "
        f"({len(set(data.y_train))} classes, {len(data.y_train)} images), tested on the "
        f"evaluation set without rotations ({len(set(data.y_test))} classes), "
        f"{IMAGE_SIZE}x{IMAGE_SIZE} images. Each learner is `MetaClassifier(algorithm, "
        f'module="conv4", input_shape=(1, {IMAGE_SIZE}, {IMAGE_SIZE}), n_shots=K, '
        f"max_iter={max_iter})` with its own defaults otherwise, trained on episodes of "
        f"{training_way} at the shot count it is tested at; queries per class: {queries}; "
        f"each episode's classes from {episodes}. Accuracy (%) on {n_episodes} test "
        "episodes, the same for every learner: mean ± 95% CI. Rows in italics are the "
        "published numbers."
    )


_DIFFERENCES = (
    "Differences from the published protocols: they split Omniglot's 1623 characters "
    "1200/423 (Vinyals et al. 2016) and test on rotated characters too, here the official "
    "background/evaluation split (964/659) is used with rotations in training only; they "
    "tune each learner (e.g. MAML 5-way: 1 inner step at 0.4, 3 at test, meta-batch 32; "
    "ProtoNet: 60-way training, 1000 test episodes), here every learner runs "
    "with its defaults and the same budget. Batch norm uses each batch's own statistics "
    "(transductive), as in the published MAML results."
)
