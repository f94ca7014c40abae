"""Accuracy figures of a trained model on the held-out rows: what the AI registry records."""

from __future__ import annotations

from dataclasses import dataclass

from aval.service.ai.advisor_demo.dataset import SERVICES, Report
from aval.service.ai.advisor_demo.model import LinearModel


@dataclass(frozen=True)
class ClassFigures:
    precision: float
    recall: float
    f1: float
    support: int
    """How many test rows carry this service."""


@dataclass(frozen=True)
class Evaluation:
    """Figures of one model version on the test rows it never saw in training."""

    model_version: str
    test_size: int
    accuracy: float
    per_class: dict[str, ClassFigures]
    confusion: dict[str, dict[str, int]]
    """confusion[true service][suggested service] = number of test rows."""

    def figures(self) -> dict[str, float]:
        """Flat figures for a registry: accuracy, macro F1, then precision and recall per
        service."""
        result = {
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(sum(c.f1 for c in self.per_class.values()) / len(SERVICES), 4),
            "test_size": float(self.test_size),
        }
        for service, c in self.per_class.items():
            result[f"precision_{service}"] = round(c.precision, 4)
            result[f"recall_{service}"] = round(c.recall, 4)
        return result

    def report(self) -> str:
        """A plain-text table for a terminal."""
        width = max(len(s) for s in SERVICES)
        lines = [
            f"model {self.model_version}",
            f"held-out accuracy: {self.accuracy:.4f} "
            f"({round(self.accuracy * self.test_size)}/{self.test_size} test rows)",
            "",
            f"{'service':<{width}}  precision  recall     f1  support",
        ]
        for service, c in self.per_class.items():
            lines.append(
                f"{service:<{width}}  {c.precision:9.3f}  {c.recall:6.3f}  {c.f1:5.3f}"
                f"  {c.support:7d}"
            )
        lines += ["", "confusion (rows: true service, columns: suggested)"]
        lines.append(" " * width + "".join(f"  {s[:8]:>8}" for s in SERVICES))
        for true in SERVICES:
            cells = "".join(f"  {self.confusion[true][s]:8d}" for s in SERVICES)
            lines.append(f"{true:<{width}}{cells}")
        return "\n".join(lines)


def evaluate(model: LinearModel, test: tuple[Report, ...]) -> Evaluation:
    """Suggests a service for every test row and compares it with the label."""
    confusion = {t: dict.fromkeys(SERVICES, 0) for t in SERVICES}
    for report in test:
        confusion[report.service][model.predict(report.text).service] += 1
    per_class = {}
    for service in SERVICES:
        hits = confusion[service][service]
        suggested = sum(confusion[t][service] for t in SERVICES)
        support = sum(confusion[service].values())
        precision = hits / suggested if suggested else 0.0
        recall = hits / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
        per_class[service] = ClassFigures(precision, recall, f1, support)
    correct = sum(confusion[s][s] for s in SERVICES)
    return Evaluation(
        model_version=model.version,
        test_size=len(test),
        accuracy=correct / len(test) if test else 0.0,
        per_class=per_class,
        confusion=confusion,
    )
