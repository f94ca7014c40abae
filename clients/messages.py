"""The command line's texts in French (the default) and English, in one catalogue."""

from __future__ import annotations

from typing import Final, Literal, get_args

Language = Literal["fr", "en"]
LANGUAGES: Final[tuple[Language, ...]] = get_args(Language)

_FRENCH: Final[dict[str, str]] = {
    # Help.
    "help.description": "Aval : des humains valident les décisions proposées par l'IA.",
    "help.address": "adresse HOST:PORT de la passerelle (AVAL_ADDRESS, sinon {default})",
    "help.token": "jeton d'accès (AVAL_TOKEN)",
    "help.json": "sortie JSON, pour les scripts",
    "help.lang": "langue des messages (AVAL_LANG, sinon fr)",
    "help.serve": "démarrer la passerelle",
    "help.listen": "adresse d'écoute HOST:PORT",
    "help.demo": "charger les politiques et comptes de démonstration",
    "help.workers": "nombre de processus serveurs sur le même port (défaut : AVAL_WORKERS ou 1)",
    "help.migrate": "appliquer les migrations de la base",
    "help.propose": "proposer une décision à la validation humaine",
    "help.type": "type de décision",
    "help.subject": "référence pseudonyme de la personne ou du dossier",
    "help.input": "données de la demande (objet JSON)",
    "help.suggestion": "sortie suggérée par votre IA (objet JSON)",
    "help.confidence": "confiance de l'IA, entre 0 et 1",
    "help.model": "modèle d'IA, NOM@VERSION",
    "help.explanation": "explication de l'IA, montrée aux agents",
    "help.idempotency_key": "clé qui rend la demande rejouable sans doublon",
    "help.tenant": "collectivité (la vôtre par défaut)",
    "help.queue": "file des décisions en attente",
    "help.queue_list": "lister les décisions en attente, échéance la plus proche d'abord",
    "help.actionable": "seulement celles sur lesquelles vous pouvez agir",
    "help.page_size": "nombre d'éléments par page",
    "help.page_token": "jeton de la page suivante",
    "help.claim": "réserver une décision pour l'examiner",
    "help.id": "identifiant de la décision",
    "help.lease": "durée de la réservation, en secondes",
    "help.decide": "rendre un avis sur une décision",
    "help.approve": "approuver la suggestion",
    "help.amend": "approuver une sortie modifiée (objet JSON)",
    "help.reject": "rejeter la suggestion",
    "help.justification": "justification de l'avis",
    "help.decision": "consulter une décision",
    "help.show": "afficher une décision",
    "help.watch": "suivre une décision jusqu'à ce qu'elle soit définitive",
    "help.audit": "piste d'audit",
    "help.events": "lister les événements de la piste d'audit",
    "help.kind": "seulement les événements de ce type",
    "help.decision_filter": "seulement les événements de cette décision",
    "help.verify": "vérifier l'intégrité de la piste d'audit",
    "help.explain": "expliquer une décision",
    "help.audience": "destinataire de l'explication",
    # Errors.
    "error": "erreur",
    "usage_hint": "voir « {prog} --help »",
    "no_token": "aucun jeton d'accès : définissez AVAL_TOKEN ou passez --token",
    "unauthenticated": "jeton refusé ({message}) : vérifiez AVAL_TOKEN ou --token",
    "unavailable": (
        "passerelle injoignable à {address} ({message}) : démarrez-la avec « aval serve » "
        "ou corrigez --address / AVAL_ADDRESS"
    ),
    "deadline": "la passerelle à {address} n'a pas répondu à temps ({message})",
    "invalid_argument": "requête refusée : {details}",
    "permission_denied": "action non autorisée : {message}",
    "not_found": "introuvable : {message}",
    "already_exists": "déjà enregistré : {message}",
    "idempotency_reused": (
        "clé d'idempotence déjà utilisée pour une autre demande ({message}) : "
        "passez une autre --idempotency-key"
    ),
    "failed_precondition": "impossible dans l'état actuel de la décision : {message}",
    "internal": "erreur de la passerelle ({code}) : {message}",
    "json_invalid": "JSON invalide : {error} (ligne {line}, colonne {column})",
    "json_not_object": 'objet JSON attendu, par exemple {{"service": "voirie"}}',
    "not_positive": "nombre positif ou nul attendu, pas {value!r}",
    "server_missing": "la passerelle n'est pas installée ici ({error})",
    "chain_broken": "piste d'audit altérée : {count} problème(s), le premier : {first}",
    "at_event": "{kind} à l'événement n° {seq}",
    "at_decision": "{kind} sur la décision {decision}",
    "interrupted": "interrompu",
    # Output.
    "state.DECISION_STATE_UNSPECIFIED": "état inconnu",
    "state.DECISION_STATE_PENDING_REVIEW": "en attente de validation",
    "state.DECISION_STATE_APPROVED": "approuvée",
    "state.DECISION_STATE_AMENDED": "amendée",
    "state.DECISION_STATE_REJECTED": "rejetée",
    "state.DECISION_STATE_EXPIRED": "expirée",
    "state.DECISION_STATE_WITHDRAWN": "retirée",
    "verdict.VERDICT_UNSPECIFIED": "avis inconnu",
    "verdict.VERDICT_APPROVE": "approuve",
    "verdict.VERDICT_AMEND": "amende",
    "verdict.VERDICT_REJECT": "rejette",
    "label.id": "Décision",
    "label.type": "Type",
    "label.subject": "Sujet",
    "label.state": "État",
    "label.approvals": "Validations",
    "label.suggestion": "Suggestion",
    "label.explanation": "Explication",
    "label.outcome": "Résultat",
    "label.reviews": "Avis",
    "label.notice": "Mention",
    "label.deadline": "Échéance",
    "label.claim": "Réservée",
    "confidence": "confiance {value}",
    "model": "modèle {name}@{version}",
    "review": "{reviewer} {verdict} le {time} : {justification}",
    "claim_until": "par {who} jusqu'au {until}",
    "proposed": "Décision enregistrée ; elle attend une validation humaine.",
    "replayed": "Demande déjà reçue : voici la décision enregistrée la première fois.",
    "queue_empty": "Aucune décision en attente.",
    "events_empty": "Aucun événement.",
    "next_page": "Page suivante : --page-token {token}",
    "col.id": "DÉCISION",
    "col.type": "TYPE",
    "col.subject": "SUJET",
    "col.approvals": "VALID.",
    "col.deadline": "ÉCHÉANCE",
    "col.claim": "RÉSERVÉE PAR",
    "col.seq": "N°",
    "col.time": "HEURE",
    "col.kind": "TYPE",
    "col.actor": "AUTEUR",
    "col.decision": "DÉCISION",
    "chain_ok": (
        "Piste d'audit intègre : {events} événement(s) et {decisions} décision(s) vérifiés ; "
        "dernier hash {head}"
    ),
    "problem": "{kind} — collectivité {tenant}, événement n° {seq}, décision {decision} : {detail}",
}

_ENGLISH: Final[dict[str, str]] = {
    "help.description": "Aval: humans validate the decisions that AI proposes.",
    "help.address": "HOST:PORT of the gateway (AVAL_ADDRESS, else {default})",
    "help.token": "access token (AVAL_TOKEN)",
    "help.json": "JSON output, for scripts",
    "help.lang": "language of messages (AVAL_LANG, else fr)",
    "help.serve": "start the gateway",
    "help.listen": "HOST:PORT to listen on",
    "help.demo": "load the demonstration policies and accounts",
    "help.workers": "server processes sharing the port (default: AVAL_WORKERS or 1)",
    "help.migrate": "apply the database migrations",
    "help.propose": "propose a decision for human validation",
    "help.type": "decision type",
    "help.subject": "pseudonymous reference to the person or case",
    "help.input": "the request's data (JSON object)",
    "help.suggestion": "output your AI suggested (JSON object)",
    "help.confidence": "the AI's confidence, between 0 and 1",
    "help.model": "AI model, NAME@VERSION",
    "help.explanation": "the AI's explanation, shown to reviewers",
    "help.idempotency_key": "key that makes the request safe to retry",
    "help.tenant": "tenant (yours by default)",
    "help.queue": "queue of decisions awaiting review",
    "help.queue_list": "list decisions awaiting review, nearest deadline first",
    "help.actionable": "only those you may act on",
    "help.page_size": "items per page",
    "help.page_token": "token of the next page",
    "help.claim": "claim a decision to review it",
    "help.id": "the decision's id",
    "help.lease": "how long the claim lasts, in seconds",
    "help.decide": "give a verdict on a decision",
    "help.approve": "approve the suggestion",
    "help.amend": "approve an amended output (JSON object)",
    "help.reject": "reject the suggestion",
    "help.justification": "why",
    "help.decision": "look at a decision",
    "help.show": "show a decision",
    "help.watch": "follow a decision until it is final",
    "help.audit": "audit trail",
    "help.events": "list the audit trail's events",
    "help.kind": "only events of this kind",
    "help.decision_filter": "only events of this decision",
    "help.verify": "verify the audit trail's integrity",
    "help.explain": "explain a decision",
    "help.audience": "who the explanation is for",
    "error": "error",
    "usage_hint": "see '{prog} --help'",
    "no_token": "no access token: set AVAL_TOKEN or pass --token",
    "unauthenticated": "token refused ({message}): check AVAL_TOKEN or --token",
    "unavailable": (
        "gateway unreachable at {address} ({message}): start it with 'aval serve' "
        "or fix --address / AVAL_ADDRESS"
    ),
    "deadline": "the gateway at {address} did not answer in time ({message})",
    "invalid_argument": "request refused: {details}",
    "permission_denied": "not allowed: {message}",
    "not_found": "not found: {message}",
    "already_exists": "already recorded: {message}",
    "idempotency_reused": (
        "idempotency key already used for another request ({message}): "
        "pass another --idempotency-key"
    ),
    "failed_precondition": "not possible in the decision's current state: {message}",
    "internal": "gateway error ({code}): {message}",
    "json_invalid": "invalid JSON: {error} (line {line}, column {column})",
    "json_not_object": 'a JSON object is expected, e.g. {{"service": "voirie"}}',
    "not_positive": "a number of at least 0 is expected, not {value!r}",
    "server_missing": "the gateway is not installed here ({error})",
    "chain_broken": "audit trail tampered with: {count} problem(s), the first: {first}",
    "at_event": "{kind} at event #{seq}",
    "at_decision": "{kind} on decision {decision}",
    "interrupted": "interrupted",
    "state.DECISION_STATE_UNSPECIFIED": "unknown state",
    "state.DECISION_STATE_PENDING_REVIEW": "pending review",
    "state.DECISION_STATE_APPROVED": "approved",
    "state.DECISION_STATE_AMENDED": "amended",
    "state.DECISION_STATE_REJECTED": "rejected",
    "state.DECISION_STATE_EXPIRED": "expired",
    "state.DECISION_STATE_WITHDRAWN": "withdrawn",
    "verdict.VERDICT_UNSPECIFIED": "unknown verdict",
    "verdict.VERDICT_APPROVE": "approved",
    "verdict.VERDICT_AMEND": "amended",
    "verdict.VERDICT_REJECT": "rejected",
    "label.id": "Decision",
    "label.type": "Type",
    "label.subject": "Subject",
    "label.state": "State",
    "label.approvals": "Approvals",
    "label.suggestion": "Suggestion",
    "label.explanation": "Explanation",
    "label.outcome": "Outcome",
    "label.reviews": "Reviews",
    "label.notice": "Notice",
    "label.deadline": "Deadline",
    "label.claim": "Claimed",
    "confidence": "confidence {value}",
    "model": "model {name}@{version}",
    "review": "{reviewer} {verdict} on {time}: {justification}",
    "claim_until": "by {who} until {until}",
    "proposed": "Decision recorded; it awaits human validation.",
    "replayed": "Request already received: here is the decision recorded the first time.",
    "queue_empty": "No decision awaiting review.",
    "events_empty": "No event.",
    "next_page": "Next page: --page-token {token}",
    "col.id": "DECISION",
    "col.type": "TYPE",
    "col.subject": "SUBJECT",
    "col.approvals": "APPR.",
    "col.deadline": "DEADLINE",
    "col.claim": "CLAIMED BY",
    "col.seq": "SEQ",
    "col.time": "TIME",
    "col.kind": "KIND",
    "col.actor": "ACTOR",
    "col.decision": "DECISION",
    "chain_ok": (
        "Audit trail intact: {events} event(s) and {decisions} decision(s) checked; "
        "head hash {head}"
    ),
    "problem": "{kind} — tenant {tenant}, event #{seq}, decision {decision}: {detail}",
}

CATALOGUES: Final[dict[Language, dict[str, str]]] = {"fr": _FRENCH, "en": _ENGLISH}


def language_of(value: str | None) -> Language:
    """Picks the catalogue for a language tag such as ``"en"``, ``"en_GB.UTF-8"`` or ``"FR"``.

    Args:
        value: A language tag, or ``None``.

    Returns:
        ``"en"`` for English tags, ``"fr"`` otherwise.
    """
    return "en" if (value or "").strip().lower()[:2] == "en" else "fr"


class Messages:
    """The texts of one language.

    Args:
        language: ``"fr"`` or ``"en"``.
    """

    def __init__(self, language: Language) -> None:
        self.language: Language = language
        self._texts = CATALOGUES[language]

    def __call__(self, key: str, **values: object) -> str:
        """Returns the text ``key``, its ``{placeholders}`` filled with ``values``.

        Args:
            key: The entry of the catalogue.
            **values: What the placeholders stand for.

        Returns:
            The text.
        """
        return self._texts[key].format(**values)

    def number(self, value: float) -> str:
        """Writes a number with two decimals and the language's decimal separator.

        Args:
            value: The number.

        Returns:
            E.g. ``"0,87"`` in French, ``"0.87"`` in English.
        """
        text = f"{value:.2f}"
        return text.replace(".", ",") if self.language == "fr" else text
