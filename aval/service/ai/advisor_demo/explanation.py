"""The explanation of one suggestion: the terms and weights that drove it (CRPA R311-3-1-2)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from aval.service.ai.advisor_demo.card import SERVICE_LABELS
from aval.service.ai.advisor_demo.dataset import Dataset
from aval.service.ai.advisor_demo.model import Prediction

# How many terms the explanation lists, and how many of them the summary sentence names.
FACTORS_SHOWN = 6
TERMS_IN_SUMMARY = 3


@dataclass(frozen=True)
class Factor:
    name: str
    weight: float
    value: str


@dataclass(frozen=True)
class SuggestionExplanation:
    summary: str
    factors: tuple[Factor, ...]
    sources: tuple[str, ...]


def french_number(x: float, *, signed: bool = False) -> str:
    """`0,87`, or `+2,31` / `-0,40` when signed."""
    text = f"{x:+.2f}" if signed else f"{x:.2f}"
    return text.replace(".", ",")


def explain(prediction: Prediction, dataset: Dataset) -> SuggestionExplanation:
    """Summary sentence, the heaviest terms for the suggested service plus its bias, sources.

    A term's weight is its contribution to the suggested service's score (weight × count);
    the score is the bias plus the contributions of all the terms of the text.
    """
    label = SERVICE_LABELS[prediction.service]
    shown = prediction.contributions[:FACTORS_SHOWN]
    factors = [Factor(f"mot « {c.spelling} »", c.value, str(c.count)) for c in shown]
    factors.append(Factor(f"constante (biais) du service « {label} »", prediction.bias, ""))
    drivers = [c for c in prediction.contributions if c.value > 0][:TERMS_IN_SUMMARY]
    # Truncated and capped, not rounded: a model's answer never reads as a certainty (1,00).
    shown_confidence = min(math.floor(prediction.confidence * 100) / 100, 0.99)
    summary = f"Service suggéré : {label} (confiance {french_number(shown_confidence)})."
    if drivers:
        summary += " Termes déterminants : " + ", ".join(
            f"« {c.spelling} » ({french_number(c.value, signed=True)})" for c in drivers
        )
        summary += "."
    else:
        summary += (
            " Aucun mot du signalement ne pèse en faveur de ce service : la suggestion ne "
            "repose que sur les constantes du modèle et doit être vérifiée."
        )
    sources = (
        "champ « description » du signalement",
        f"jeu d'apprentissage {dataset.name} ({len(dataset.training)} signalements "
        f"étiquetés, synthétiques ; {len(dataset.test)} autres tenus à l'écart pour "
        "l'évaluation)",
    )
    return SuggestionExplanation(summary=summary, factors=tuple(factors), sources=sources)
