"""Multinomial logistic regression over French words, trained by plain SGD in pure Python."""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections import Counter
from dataclasses import asdict, dataclass

from aval.service.ai.advisor_demo.dataset import SERVICES, Dataset, Report
from aval.service.ai.advisor_demo.tokens import STOP_WORDS, read_words

# Bumped by hand when the code of the model changes; the data and hyper-parameters are in the
# digest that completes the version (see `model_version`).
MODEL_RELEASE = "1.0.0"


@dataclass(frozen=True)
class Hyperparameters:
    """What, beside the data, decides the weights (part of the model version)."""

    epochs: int = 30
    learning_rate: float = 0.5
    # The learning rate at step t is learning_rate / (1 + decay * t / number of examples).
    decay: float = 0.5
    # L2 penalty on term weights (not on the biases), applied to the terms of each example.
    l2: float = 0.01
    seed: int = 20240501


def model_version(dataset: Dataset, hyperparameters: Hyperparameters) -> str:
    """`1.0.0+<12 hex digits>`: the release, then a digest of data, split, stop words and
    hyper-parameters, so that a retrain on other data or settings is another version."""
    recipe = {
        "data_sha256": dataset.sha256,
        "services": list(SERVICES),
        "hyperparameters": asdict(hyperparameters),
        "stop_words": sorted(STOP_WORDS),
    }
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()
    return f"{MODEL_RELEASE}+{digest[:12]}"


@dataclass(frozen=True)
class Contribution:
    """What one term of a text added to the score of a service."""

    term: str
    spelling: str
    count: int
    weight: float

    @property
    def value(self) -> float:
        """weight × count."""
        return self.weight * self.count


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one text, with everything its explanation needs."""

    service: str
    probabilities: dict[str, float]
    scores: dict[str, float]
    bias: float
    """The suggested service's bias: its score when the text has no known term."""
    contributions: tuple[Contribution, ...]
    """Every known term of the text, by decreasing absolute contribution to `service`."""
    word_count: int

    @property
    def confidence(self) -> float:
        return self.probabilities[self.service]


@dataclass(frozen=True)
class LinearModel:
    """Weights per term and service, and a bias per service; score = bias + Σ weight × count."""

    version: str
    weights: dict[str, tuple[float, ...]]
    biases: tuple[float, ...]

    def scores(self, terms: Counter[str]) -> list[float]:
        scores = list(self.biases)
        for term, count in terms.items():
            row = self.weights.get(term)
            if row is not None:
                for k, w in enumerate(row):
                    scores[k] += w * count
        return scores

    def predict(self, text: str) -> Prediction:
        words = read_words(text)
        counts = Counter(words.terms)
        scores = self.scores(counts)
        probabilities = softmax(scores)
        # Ties go to the first service in SERVICES order: deterministic.
        best = max(range(len(SERVICES)), key=lambda k: (scores[k], -k))
        contributions = [
            Contribution(term=term, spelling=words.spelling[term], count=count, weight=row[best])
            for term, count in counts.items()
            if (row := self.weights.get(term)) is not None
        ]
        contributions.sort(key=lambda c: (-abs(c.value), c.term))
        return Prediction(
            service=SERVICES[best],
            probabilities=dict(zip(SERVICES, probabilities, strict=True)),
            scores=dict(zip(SERVICES, scores, strict=True)),
            bias=self.biases[best],
            contributions=tuple(contributions),
            word_count=words.count,
        )


def softmax(scores: list[float]) -> list[float]:
    top = max(scores)
    exps = [math.exp(s - top) for s in scores]
    total = sum(exps)
    return [e / total for e in exps]


def train(dataset: Dataset, hyperparameters: Hyperparameters | None = None) -> LinearModel:
    """Fits the weights on the training rows of the data set (the test rows are never seen).

    Deterministic: the vocabulary is sorted, examples are visited in an order drawn from a
    seeded generator, and nothing else varies between runs.
    """
    hp = hyperparameters or Hyperparameters()
    examples = _examples(dataset.training)
    vocabulary = sorted({term for counts, _ in examples for term, _ in counts})
    n_classes = len(SERVICES)
    weights = {term: [0.0] * n_classes for term in vocabulary}
    biases = [0.0] * n_classes
    order = list(range(len(examples)))
    rng = random.Random(hp.seed)
    step = 0
    for _ in range(hp.epochs):
        rng.shuffle(order)
        for i in order:
            counts, label = examples[i]
            rate = hp.learning_rate / (1.0 + hp.decay * step / len(examples))
            step += 1
            scores = list(biases)
            for term, count in counts:
                row = weights[term]
                for k in range(n_classes):
                    scores[k] += row[k] * count
            probabilities = softmax(scores)
            # Gradient of the cross-entropy with respect to the scores: p - one_hot(label).
            errors = [p - (1.0 if k == label else 0.0) for k, p in enumerate(probabilities)]
            for k in range(n_classes):
                biases[k] -= rate * errors[k]
            for term, count in counts:
                row = weights[term]
                for k in range(n_classes):
                    row[k] -= rate * (errors[k] * count + hp.l2 * row[k])
    return LinearModel(
        version=model_version(dataset, hp),
        weights={term: tuple(row) for term, row in weights.items()},
        biases=tuple(biases),
    )


def _examples(reports: tuple[Report, ...]) -> list[tuple[list[tuple[str, int]], int]]:
    """(term, count) pairs in first-occurrence order, and the class index, per report."""
    return [
        (list(Counter(read_words(r.text).terms).items()), SERVICES.index(r.service))
        for r in reports
    ]
