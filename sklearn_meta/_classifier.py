"""The classification task model: an episode is ``n_way`` classes, and
``predict`` adapts to a support memory of the training classes."""

from __future__ import annotations

import copy

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import BaseMetaEstimator
from ._core._episodes import ClassificationTasks, PooledClasses
from ._core._tasks import CLASSIFICATION, probabilities
from ._validation import check_classes, check_numeric, merge_classes


class _MetaClassifierBase(ClassifierMixin, BaseMetaEstimator):
    """Task model: an episode is ``n_way`` classes (of one group, if given)."""

    _kind = CLASSIFICATION
    score = BaseMetaEstimator.score  # episodic, not ClassifierMixin's

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True  # few-shot score, as for regressors
        return tags

    def partial_fit(self, X, y, groups=None, classes=None, sample_weight=None):
        """Continue meta-training with one pass over the classes in ``(X, y, groups)``.

        Any call may bring classes not seen before (the head starts every
        class from one shared head row; the fine-tuning baseline's
        pretrained head grows a row for each new class): ``classes_`` grows,
        sorted, and ``predict`` and ``predict_proba`` cover every class seen
        so far. To predict, the network adapts to a support memory of at most
        ``n_shots + n_queries`` samples of each class, a uniform random sample
        of all the samples of that class passed to ``partial_fit`` (and to the
        ``fit`` before), so classes absent from the latest call are still
        predicted; the memory is saved with the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.
        y : array-like of shape (n_samples,)
            Class labels, new ones included.
        groups : array-like of shape (n_samples,), default=None
            Group of each sample; episodes draw their classes from one group.
        classes : array-like of shape (n_classes,), default=None
            Classes to know from this call on besides those in ``y``, e.g. all
            the classes of a stream declared on the first call; a later call
            may add more. A declared class without samples yet has a column in
            ``predict_proba`` but nothing to adapt to: prototypical networks
            never predict it, the other learners rarely.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the samples in drawing episodes, as in ``fit``.

        Returns
        -------
        self : object
            The estimator, meta-trained a little further.
        """
        fresh = not hasattr(self, "learner_")
        known = None if fresh else self.classes_
        if classes is not None:
            classes = check_classes(classes)
            known = classes if known is None else merge_classes(known, classes, "classes")
        return self._fit(
            X, y, groups, fresh=fresh, one_pass=True, classes=known, sample_weight=sample_weight
        )

    def predict_proba(self, X):
        """Class probabilities over the training classes.

        They come from the network ``fit`` prepared for the training classes
        (``adapted_module_``): for the MAML family, the meta-learned network
        adapted once to them (every class starts from the same head row);
        for prototypical networks, the prototypes of all training samples;
        for the fine-tuning baseline, its pretrained head. After
        ``partial_fit``, the network adapts to the support memory instead
        (see ``partial_fit``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities, columns ordered as ``classes_``.
        """
        check_is_fitted(self, "adapted_module_")
        check_numeric("X", X)
        X = validate_data(self, X, reset=False, dtype=np.float32)
        return probabilities(self._outputs(self.adapted_module_, X))

    def predict(self, X):
        """Predict a training class for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Inputs.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Predicted labels.
        """
        probabilities = self.predict_proba(X)
        return self.classes_[probabilities.argmax(axis=1)]

    def _encode_targets(self, y, *, fitting: bool, classes=None):
        check_classification_targets(y)
        if not fitting:  # episodic evaluation: any classes, labels per episode
            labels, codes = np.unique(y, return_inverse=True)
            return codes, labels
        # classes: those known before y (partial_fit), which y may add to.
        present = np.unique(y)
        self.classes_ = present if classes is None else merge_classes(classes, present, "y")
        if len(self.classes_) < 2:
            raise ValueError(
                f"{'y' if classes is None else 'y with classes'} holds only one class, "
                f"{self.classes_.tolist()[0]!r}; a classifier needs at least two."
            )
        return np.searchsorted(self.classes_, y), self.classes_

    def _validate_training_data(self, X, y, fresh: bool, classes, sample_weight=None):
        previous = None if fresh else self.classes_
        X, y, labels = super()._validate_training_data(X, y, fresh, classes, sample_weight)
        if previous is not None and self._algorithm().pretrains:
            if not np.isin(previous, labels).all():
                raise ValueError(
                    f"warm_start continues pretraining a head for the classes {previous!r}; "
                    f"y has the classes {labels!r}. Set warm_start=False to start afresh."
                )
            if not np.array_equal(previous, labels):
                self._grow_head(previous)
        return X, y, labels

    def _grow_head(self, previous: np.ndarray) -> None:
        """Give a pretrained head a row for each class of ``classes_`` that
        ``previous`` lacks, initialized as a fresh head's rows; the head's
        optimizer state starts afresh. Learner and optimizer are replaced by
        grown copies, so that a call that fails later keeps the old ones."""
        learner = copy.deepcopy(self.learner_)
        old = learner.model.head
        seed = int(self._seeded_rng().integers(2**31 - 1))
        seed = np.random.SeedSequence([seed, self.n_iter_]).generate_state(1)[0]
        with torch.random.fork_rng(devices=[]):  # rows drawn from random_state alone
            torch.manual_seed(int(seed))
            head = type(old)(old.in_features, len(self.classes_)).to(old.weight.device)
        kept = torch.as_tensor(np.searchsorted(self.classes_, previous), device=old.weight.device)
        with torch.no_grad():
            for name, value in head.named_parameters():
                value[kept] = getattr(old, name)
        learner.model.head = head
        state = self._optimizer.state_dict()
        names = [name for name, _ in learner.named_parameters()]
        state["state"] = {
            index: value
            for index, value in state["state"].items()
            if not names[index].startswith("model.head.")
        }
        optimizer = torch.optim.Adam(learner.parameters(), lr=self._setting("meta_lr"))
        optimizer.load_state_dict(state)
        self.learner_, self._optimizer = learner, optimizer

    def _task_pool(self, y, groups, group_names, labels, *, evaluating: bool, weights=None):
        if not evaluating and self._algorithm().pretrains:  # minibatches of the pooled classes
            n_support, n_query = self.n_way * self.n_shots, self.n_way * self.n_queries
            return PooledClasses(y, len(labels), n_support, n_query, weights)
        return ClassificationTasks.of_groups(
            y,
            labels,
            groups,
            group_names,
            self.n_way,
            self.n_shots,
            self.n_queries,
            weights,
            evaluating=evaluating,  # held-out data may hold fewer classes than n_way
        )

    def _n_outputs(self, pool) -> int:
        return pool.n_way

    def _training_weights(self, y, sample_weight) -> np.ndarray | None:
        weights = super()._training_weights(y, sample_weight)
        if self.class_weight is None:
            return weights
        by_class = compute_sample_weight(self.class_weight, self.classes_[y])
        return by_class if weights is None else by_class * weights

    def _after_fit(self, X, y, *, streaming: bool = False) -> None:
        """Prepare ``predict`` for the training classes (see the algorithm's ``fit_support``)."""
        self._support_memory = self._remembered(X, y, streaming)
        # After partial_fit, the memory stands for every sample seen so far.
        self._finish_fit(self._support_memory["X"] if streaming else X)
        support = "support memory" if streaming else self._algorithm().fit_support
        if support == "trained head":  # a row per training class already
            self._set_predict_state(dict(self.learner_.model.named_parameters()))
            return
        if support == "all samples":
            X_support, y_support = X, y
        else:
            memory = self._support_memory
            X_support, y_support = memory["X"], np.searchsorted(self.classes_, memory["labels"])
        state = self._adapted_state(X_support, y_support, len(self.classes_), None)
        self._set_predict_state(state)

    def _remembered(self, X, y, streaming: bool) -> dict:
        """The support memory after this call: at most ``n_shots + n_queries``
        samples of each class, a uniform sample of this call's samples and,
        when ``streaming``, of those the memory stood for (every sample draws
        a random key; the smallest keys of each class stay)."""
        labels, keys = self.classes_[y], self._rng.random(len(y))
        earlier = getattr(self, "_support_memory", None) if streaming else None
        if earlier is not None:
            X = np.concatenate([earlier["X"], X])
            labels = np.concatenate([earlier["labels"], labels])
            keys = np.concatenate([earlier["keys"], keys])
        codes = np.searchsorted(self.classes_, labels)
        rows = _smallest_per_class(codes, keys, self.n_shots + self.n_queries)
        return {"X": X[rows], "labels": labels[rows], "keys": keys[rows]}

    def _fitted_payload(self) -> dict:
        payload = super()._fitted_payload()
        memory = getattr(self, "_support_memory", None)
        if memory is not None:  # labels as codes: tensors only
            payload["support_memory"] = {
                "X": torch.from_numpy(memory["X"]),
                "codes": torch.from_numpy(np.searchsorted(self.classes_, memory["labels"])),
                "keys": torch.from_numpy(memory["keys"]),
            }
        return payload

    def _restore_payload(self, payload: dict, **kwargs) -> None:
        super()._restore_payload(payload, **kwargs)
        memory = payload.get("support_memory")
        if memory is not None:
            self._support_memory = {
                "X": memory["X"].numpy(),
                "labels": self.classes_[memory["codes"].numpy()],
                "keys": memory["keys"].numpy(),
            }


def _smallest_per_class(y: np.ndarray, keys: np.ndarray, per_class: int) -> np.ndarray:
    """Sorted row indices of the (at most) ``per_class`` smallest ``keys`` of each class."""
    order = np.lexsort((keys, y))
    sorted_y = y[order]
    first = np.searchsorted(sorted_y, sorted_y, side="left")
    return np.sort(order[np.arange(len(y)) - first < per_class])
