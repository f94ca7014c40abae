"""What the AI registry records about the demo model: purpose, known limits, output schema."""

from __future__ import annotations

from typing import Any

from aval.service.ai.advisor_demo.dataset import SERVICES

SYSTEM_NAME = "triage-signalements-demo"

# How a reader sees each service (the labels themselves stay ASCII, as in the output schema).
SERVICE_LABELS: dict[str, str] = {
    "voirie": "voirie",
    "proprete": "propreté",
    "eclairage": "éclairage",
    "espaces_verts": "espaces verts",
}

INTENDED_PURPOSE = (
    "Suggérer à un agent le service municipal (voirie, propreté, éclairage public, espaces "
    "verts) auquel transmettre le signalement d'un habitant sur l'espace public, à partir du "
    "seul texte du signalement. La suggestion est une aide : un agent décide de l'orientation."
)

KNOWN_LIMITS: tuple[str, ...] = (
    "Ne connaît que quatre services : voirie, propreté, éclairage et espaces verts ; un "
    "signalement qui relève d'un autre service (eau, stationnement, bruit, police) est quand "
    "même orienté vers l'un des quatre.",
    "Ne lit que le français ; un signalement dans une autre langue reçoit une suggestion sans "
    "valeur et une confiance basse.",
    "A appris sur 400 signalements synthétiques écrits pour la démonstration d'Aval, pas sur "
    "des signalements réels d'une collectivité.",
    "Ne tient compte ni du lieu, ni des photos, ni de la catégorie déclarée par l'habitant : "
    "seulement des mots du texte.",
    "Compte les mots sans leur ordre ni leur sens : une négation (« le lampadaire n'est pas "
    "en panne ») ou un mot inconnu du modèle lui échappent.",
    "Un signalement qui mêle deux services (un arbre tombé sur la chaussée) n'en reçoit "
    "qu'un seul.",
    "Sa justesse mesurée sur 100 signalements tenus à l'écart de l'apprentissage est une "
    "estimation grossière : quelques points d'écart sur d'autres textes sont attendus.",
)

# The JSON Schema every suggestion of this advisor satisfies.
OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"service": {"type": "string", "enum": list(SERVICES)}},
    "required": ["service"],
    "additionalProperties": False,
}
