import numpy as np
import pytest

from sklearn_meta._benchmarks._classification import Result, learner_table
from sklearn_meta._benchmarks._omniglot import (
    PUBLISHED,
    check_omniglot,
    default_queries,
    load_omniglot_benchmark,
)

pytest.importorskip("PIL")


@pytest.fixture(scope="module")
def omniglot_root(tmp_path_factory, omniglot_files):
    write, _ = omniglot_files
    root = tmp_path_factory.mktemp("omniglot")
    write(root, "background", ("Latin", "Greek"))
    write(root, "evaluation", ("Angelic", "Keble", "Tengwar"), n_characters=2)
    return root


def test_train_with_rotations_test_without(omniglot_root):
    data = load_omniglot_benchmark(omniglot_root)
    assert data.X_train.shape == (4 * 12, 28 * 28) and data.X_test.shape == (12, 28 * 28)
    assert len(np.unique(data.y_train)) == 24 and len(np.unique(data.y_test)) == 6
    assert data.groups_train is None and data.groups_test is None
    assert not set(data.y_train) & set(data.y_test)
    within = load_omniglot_benchmark(omniglot_root, within_alphabet=True)
    assert set(within.groups_train) == {"Latin", "Greek"}
    assert set(within.groups_test) == {"Angelic", "Keble", "Tengwar"}


def test_check_omniglot_needs_both_subsets(omniglot_root, tmp_path, omniglot_files):
    check_omniglot(omniglot_root)
    write, _ = omniglot_files
    write(tmp_path, "background")
    with pytest.raises(FileNotFoundError, match="images_evaluation"):
        check_omniglot(tmp_path)


def test_queries_fit_20_way_episodes():
    assert default_queries(5) == 15 and default_queries(20) == 5


def test_the_default_table_shows_the_published_numbers():
    columns = [("Omniglot", w, k) for w in (5, 20) for k in (1, 5)]
    algorithms = ["protonet", "maml", "anil", "ridge", "finetune"]
    results = [Result(a, c, 0.9, 0.01, 0, 600, 1.0) for a in algorithms for c in columns]
    lines = learner_table(results, PUBLISHED).splitlines()
    assert lines[0] == (
        "| learner | Omniglot 5-way 1-shot | Omniglot 5-way 5-shot | Omniglot 20-way 1-shot "
        "| Omniglot 20-way 5-shot |"
    )
    rows = [line.split(" | ")[0].lstrip("| ") for line in lines[2:]]
    assert rows == [
        "protonet",
        "*published: Snell et al. 2017*",
        "maml",
        "*published: Finn et al. 2017*",
        "anil",
        "*published: Raghu et al. 2019*",
        "ridge",
        "**finetune (baseline)**",
    ]
    assert lines[3] == "| *published: Snell et al. 2017* | *98.8* | *99.7* | *96.0* | *98.9* |"
    assert lines[5].endswith("| *98.7 ± 0.4* | *99.9 ± 0.1* | *95.8 ± 0.3* | *98.9 ± 0.2* |")
    assert lines[7] == "| *published: Raghu et al. 2019* |  |  | *96.2 ± 0.5* | *98.0 ± 0.3* |"
