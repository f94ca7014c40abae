"""The demo triage model: trained for real on the shipped data, deterministic, explainable."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from aval.service.ai.advisor_demo import (
    KNOWN_LIMITS,
    MODEL_RELEASE,
    OUTPUT_SCHEMA,
    SERVICES,
    Dataset,
    DatasetError,
    DemoModel,
    Hyperparameters,
    shipped_dataset,
    train,
    train_demo_model,
)
from aval.service.ai.advisor_demo.dataset import parse_dataset
from aval.service.ai.advisor_demo.explanation import FACTORS_SHOWN, explain
from aval.service.ai.advisor_demo.tokens import read_words

TEXTS = (
    "le lampadaire de la rue est éteint",
    "nid de poule dangereux",
    "Des tags et des sacs poubelles partout devant l'école, les poubelles débordent",
    "La branche d'un arbre du parc est tombée sur le banc, il faut élaguer",
    "lampadaire lampadaire lampadaires",
    "texte sans aucun mot connu: zxq wvk",
)


@pytest.fixture(scope="module")
def trained() -> DemoModel:
    return train_demo_model()


def test_held_out_accuracy_is_at_least_0_85_on_the_shipped_data(trained: DemoModel) -> None:
    evaluation = trained.evaluation
    assert evaluation.test_size == 100
    assert evaluation.accuracy >= 0.85
    confusion = evaluation.confusion
    assert sum(sum(row.values()) for row in confusion.values()) == 100
    correct = sum(confusion[s][s] for s in SERVICES)
    assert evaluation.accuracy == correct / 100
    assert evaluation.figures()["accuracy"] == round(evaluation.accuracy, 4)
    assert set(evaluation.per_class) == set(SERVICES)


def test_the_split_is_every_fifth_row_and_balanced() -> None:
    dataset = shipped_dataset()
    assert len(dataset.reports) == 500
    assert [r.row for r in dataset.test] == list(range(5, 501, 5))
    assert dataset.class_counts() == dict.fromkeys(SERVICES, 125)
    for service in SERVICES:
        assert sum(1 for r in dataset.test if r.service == service) == 25


def test_test_rows_never_reach_training() -> None:
    dataset = shipped_dataset()
    model = train(dataset)
    training_terms = {t for r in dataset.training for t in read_words(r.text).terms}
    test_only = {t for r in dataset.test for t in read_words(r.text).terms} - training_terms
    assert test_only, "the shipped test rows have words of their own"
    assert not test_only & set(model.weights)
    assert set(model.weights) == training_terms


def test_training_is_deterministic() -> None:
    dataset = shipped_dataset()
    first, second = train(dataset), train(dataset)
    assert first.weights == second.weights
    assert first.biases == second.biases
    assert first.version == second.version


def test_the_version_names_data_and_hyperparameters() -> None:
    dataset = shipped_dataset()
    version = train(dataset).version
    assert version.startswith(MODEL_RELEASE + "+")
    assert len(version) == len(MODEL_RELEASE) + 1 + 12
    other_data = Dataset(dataset.name, dataset.reports[:-5], "0" * 64)
    assert train(other_data).version != version
    assert train(dataset, replace(Hyperparameters(), epochs=10)).version != version


@pytest.mark.parametrize("text", TEXTS)
def test_contributions_and_bias_add_up_to_the_score(trained: DemoModel, text: str) -> None:
    prediction = trained.model.predict(text)
    total = prediction.bias + sum(c.value for c in prediction.contributions)
    assert math.isclose(total, prediction.scores[prediction.service], abs_tol=1e-9)
    assert math.isclose(sum(prediction.probabilities.values()), 1.0)
    assert prediction.confidence == max(prediction.probabilities.values())
    magnitudes = [abs(c.value) for c in prediction.contributions]
    assert magnitudes == sorted(magnitudes, reverse=True)


@pytest.mark.parametrize(
    ("text", "service"),
    [
        ("le lampadaire de la rue est éteint", "eclairage"),
        ("nid de poule dangereux", "voirie"),
        ("des tags sur le mur de la mairie", "proprete"),
        ("les poubelles debordent et ca sent mauvais", "proprete"),
        ("la pelouse du parc n'a pas été tondue", "espaces_verts"),
        ("LAMPADAIRE QUI CLIGNOTE TOUTE LA NUIT", "eclairage"),
        ("le trottoir est defonce", "voirie"),
    ],
)
def test_obvious_reports_go_to_the_right_service(
    trained: DemoModel, text: str, service: str
) -> None:
    assert trained.model.predict(text).service == service


def test_the_explanation_names_the_terms_and_weights_in_french(trained: DemoModel) -> None:
    prediction = trained.model.predict("le lampadaire de la rue est éteint")
    explanation = explain(prediction, trained.dataset)
    assert prediction.confidence > 0.99
    # Truncated: a model is never shown as certain.
    assert explanation.summary.startswith("Service suggéré : éclairage (confiance 0,99).")
    assert "Termes déterminants : « lampadaire » (+" in explanation.summary
    names = [f.name for f in explanation.factors]
    assert "mot « lampadaire »" in names
    assert "mot « éteint »" in names, "the reader sees the word as written, accents kept"
    assert names[-1] == "constante (biais) du service « éclairage »"
    assert explanation.factors[-1].weight == prediction.bias
    lamp = next(f for f in explanation.factors if f.name == "mot « lampadaire »")
    assert lamp.weight > 0
    assert lamp.value == "1"
    assert explanation.sources[0] == "champ « description » du signalement"
    assert "signalements.csv (400 signalements" in explanation.sources[1]


def test_the_explanation_shows_at_most_six_terms_plus_the_bias(trained: DemoModel) -> None:
    text = (
        "Depuis la tempête, un arbre est tombé sur le trottoir, le lampadaire est cassé, des "
        "sacs poubelles traînent et la chaussée est pleine de trous et de branches"
    )
    prediction = trained.model.predict(text)
    assert len(prediction.contributions) > FACTORS_SHOWN
    explanation = explain(prediction, trained.dataset)
    assert len(explanation.factors) == FACTORS_SHOWN + 1


def test_a_text_of_unknown_words_says_the_suggestion_rests_on_the_bias(trained: DemoModel) -> None:
    prediction = trained.model.predict("zxq wvk")
    assert prediction.contributions == ()
    assert prediction.confidence < 0.5
    explanation = explain(prediction, trained.dataset)
    assert "Aucun mot du signalement" in explanation.summary
    assert len(explanation.factors) == 1


def test_words_are_lowercased_unaccented_stemmed_and_stop_words_dropped() -> None:
    words = read_words("Les LAMPADAIRES de l'école sont éteints, 10 fois!")
    assert words.count == 8
    assert words.terms == ("lampadair", "ecol", "eteint")
    assert words.spelling == {"lampadair": "lampadaires", "ecol": "école", "eteint": "éteints"}
    assert read_words("cassée").terms == read_words("CASSE").terms


def test_a_bad_data_file_is_refused_naming_the_row() -> None:
    with pytest.raises(DatasetError, match="text,service"):
        parse_dataset("x.csv", b"texte,service\n")
    with pytest.raises(DatasetError, match="row 2 names service 'police'"):
        parse_dataset("x.csv", "text,service\nlampadaire éteint,eclairage\nbruit,police\n".encode())
    with pytest.raises(DatasetError, match="no training row for voirie"):
        parse_dataset(
            "x.csv", b"text,service\nlampe,eclairage\ntag,proprete\narbre,espaces_verts\n"
        )


def test_output_schema_and_known_limits_are_ready_for_registration() -> None:
    assert OUTPUT_SCHEMA["properties"]["service"]["enum"] == list(SERVICES)
    assert OUTPUT_SCHEMA["required"] == ["service"]
    assert OUTPUT_SCHEMA["additionalProperties"] is False
    assert len(KNOWN_LIMITS) >= 4
    assert any("quatre services" in limit for limit in KNOWN_LIMITS)
    assert any("français" in limit for limit in KNOWN_LIMITS)
