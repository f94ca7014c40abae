"""A real, small AI system for the demo: triage of citizens' street reports into municipal
services by a linear model over French words, served as an `Advisor` (see docs/advisor-demo.md).
"""

from __future__ import annotations

from aval.service.ai.advisor_demo.card import (
    INTENDED_PURPOSE,
    KNOWN_LIMITS,
    OUTPUT_SCHEMA,
    SERVICE_LABELS,
    SYSTEM_NAME,
)
from aval.service.ai.advisor_demo.dataset import (
    SERVICES,
    Dataset,
    DatasetError,
    Report,
    load_dataset,
    shipped_dataset,
)
from aval.service.ai.advisor_demo.evaluation import Evaluation, evaluate
from aval.service.ai.advisor_demo.model import (
    MODEL_RELEASE,
    Hyperparameters,
    LinearModel,
    Prediction,
    model_version,
    train,
)
from aval.service.ai.advisor_demo.servicer import AdvisorStartError, DemoAdvisor, start_demo_advisor
from aval.service.ai.advisor_demo.training import DemoModel, train_demo_model

__all__ = [
    "INTENDED_PURPOSE",
    "KNOWN_LIMITS",
    "MODEL_RELEASE",
    "OUTPUT_SCHEMA",
    "SERVICES",
    "SERVICE_LABELS",
    "SYSTEM_NAME",
    "AdvisorStartError",
    "Dataset",
    "DatasetError",
    "DemoAdvisor",
    "DemoModel",
    "Evaluation",
    "Hyperparameters",
    "LinearModel",
    "Prediction",
    "Report",
    "evaluate",
    "load_dataset",
    "model_version",
    "shipped_dataset",
    "start_demo_advisor",
    "train",
    "train_demo_model",
]
