"""Training the demo model at start-up: data, weights and held-out figures, in one value."""

from __future__ import annotations

import time
from dataclasses import dataclass

from aval.service.ai.advisor_demo.dataset import Dataset, shipped_dataset
from aval.service.ai.advisor_demo.evaluation import Evaluation, evaluate
from aval.service.ai.advisor_demo.model import Hyperparameters, LinearModel, train


@dataclass(frozen=True)
class DemoModel:
    """A trained model, the data set it learned from and its figures on the held-out rows."""

    model: LinearModel
    dataset: Dataset
    hyperparameters: Hyperparameters
    evaluation: Evaluation
    training_seconds: float
    """Wall time of training and evaluation (for the operator's information only)."""

    @property
    def version(self) -> str:
        return self.model.version


def train_demo_model(
    dataset: Dataset | None = None, hyperparameters: Hyperparameters | None = None
) -> DemoModel:
    """Trains on the shipped data set (or another one) and evaluates on its test rows."""
    data = dataset or shipped_dataset()
    hp = hyperparameters or Hyperparameters()
    started = time.perf_counter()
    model = train(data, hp)
    evaluation = evaluate(model, data.test)
    return DemoModel(
        model=model,
        dataset=data,
        hyperparameters=hp,
        evaluation=evaluation,
        training_seconds=time.perf_counter() - started,
    )
