"""What every refusal says, in English (the status message, for developers) and in French (the
google.rpc.LocalizedMessage that supervisors and agents read), keyed by a stable reason."""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

# reason -> (English, French). Placeholders are filled from the error's parameters, which also
# travel as ErrorInfo.metadata so that any client can word the refusal its own way.
REFUSALS: dict[str, tuple[str, str]] = {
    "NO_CREDENTIALS": (
        "no credentials: send `authorization: Bearer <token>` (AVAL_TOKEN for the CLI)",
        "aucun identifiant : envoyez `authorization: Bearer <jeton>` (AVAL_TOKEN pour la "
        "ligne de commande)",
    ),
    "MALFORMED_CREDENTIALS": (
        "the authorization metadata must be `Bearer <token>`",
        "l'en-tête authorization doit être de la forme `Bearer <jeton>`",
    ),
    "UNKNOWN_TOKEN": ("unknown token", "jeton inconnu"),
    "NOT_GRANTED": (
        "{principal} may not {action} in tenant {tenant}: no grant allows it",
        "{principal} n'a pas le droit « {action} » dans la collectivité {tenant} : aucune "
        "habilitation ne le permet",
    ),
    "DECISION_NOT_FOUND": (
        "no decision {decision} in tenant {tenant}",
        "aucune décision {decision} dans la collectivité {tenant}",
    ),
    "IDEMPOTENCY_KEY_REUSED": (
        "idempotency key {key!r} was already used with a different request body: use a new key "
        "for a new proposal",
        "la clé d'idempotence {key!r} a déjà servi pour une autre demande : utilisez une "
        "nouvelle clé pour une nouvelle proposition",
    ),
    "HIGH_RISK_MODEL_NOT_REGISTERED": (
        "{decision_type} is a high-risk decision type: its suggestions must come from the "
        "registered AI system {expected!r}, not {ai_system!r} (aval admin systems list)",
        "{decision_type} est un type de décision à haut risque : ses suggestions doivent venir "
        "du système d'IA enregistré {expected!r}, pas de {ai_system!r} (aval admin systems list)",
    ),
    "HIGH_RISK_MODEL_NOT_PINNED": (
        "high-risk decision type: version {version!r} of {ai_system!r} is not the pinned version "
        "({pinned!r}); an administrator requests the pin and another approves it (aval admin pin)",
        "type de décision à haut risque : la version {version!r} de {ai_system!r} n'est pas la "
        "version épinglée ({pinned!r}) ; un administrateur demande l'épinglage et un autre "
        "l'approuve (aval admin pin)",
    ),
    "ALREADY_REVIEWED": (
        "{reviewer} already gave a verdict on decision {decision}: a second approval must come "
        "from another person",
        "{reviewer} a déjà donné son avis sur la décision {decision} : une seconde validation "
        "doit venir d'une autre personne",
    ),
    "DECISION_FINAL": (
        "decision {decision} is already {state}: it can no longer be reviewed",
        "la décision {decision} est déjà définitive ({state}) : elle ne peut plus être examinée",
    ),
    "DEADLINE_PASSED": (
        "the deadline of decision {decision} passed at {deadline}: it expires unreviewed and "
        "never takes effect",
        "le délai d'examen de la décision {decision} a expiré le {deadline} : elle expire sans "
        "validation et ne produira aucun effet",
    ),
    "PROPOSER_CANNOT_REVIEW": (
        "separation of duties: the proposer of a decision can never review it",
        "séparation des tâches : l'auteur d'une proposition ne peut jamais l'examiner",
    ),
    "NOT_AN_ELIGIBLE_REVIEWER": (
        "the policy of {decision_type} requires one of the roles {roles} to review",
        "la politique de {decision_type} réserve l'examen aux rôles : {roles}",
    ),
    "CLAIMED_BY_ANOTHER": (
        "decision {decision} is claimed by {holder} until {until}",
        "la décision {decision} est réservée par {holder} jusqu'au {until}",
    ),
    "CLAIM_HOLD_EXHAUSTED": (
        "{holder} has held decision {decision} since {since_paris}, as long as one supervisor "
        "may ({max_hold}): the claim ends at {until_paris}, and {holder} may claim it again "
        "from {again_paris}, once colleagues could take it (Paris time; in UTC: {since}, "
        "{until}, {again})",
        "{holder} réserve la décision {decision} depuis le {since_paris}, la durée maximale "
        "pour une même personne ({max_hold}) : la réservation prend fin le {until_paris}, et "
        "{holder} ne pourra la réserver de nouveau qu'à partir du {again_paris}, une fois "
        "qu'elle aura été libre pour ses collègues (heure de Paris ; en UTC : {since}, "
        "{until}, {again})",
    ),
    "POLICY_MISSING": (
        "no review policy for {decision_type} in tenant {tenant} any more: restore it",
        "plus aucune politique d'examen pour {decision_type} dans la collectivité {tenant} : "
        "rétablissez-la",
    ),
    "AMEND_NOT_ALLOWED": (
        "the policy of {decision_type} does not allow amending: approve or reject",
        "la politique de {decision_type} ne permet pas d'amender : approuvez ou rejetez",
    ),
    "NOTHING_TO_APPROVE": (
        "there is no suggestion to approve: decide without AI by amending with the output",
        "il n'y a pas de suggestion à approuver : décidez sans IA en amendant avec le résultat",
    ),
    "CONCURRENT_UPDATE": (
        "decision {decision} changed while it was being updated; retry the request",
        "la décision {decision} a changé pendant la mise à jour ; recommencez",
    ),
    "DATABASE_UNAVAILABLE": (
        "the database is unavailable; retry later",
        "la base de données est indisponible ; réessayez plus tard",
    ),
    "NO_SIGNING_KEY": (
        "this server has no checkpoint signing key: set AVAL_SIGNING_KEY_FILE to an Ed25519 "
        "private key (PEM) and restart it; `aval keys generate` creates one",
        "ce serveur n'a pas de clé de signature des points de contrôle : définissez "
        "AVAL_SIGNING_KEY_FILE (clé privée Ed25519 au format PEM) et redémarrez-le ; "
        "`aval keys generate` en crée une",
    ),
    "TRAIL_BROKEN": (
        "the audit trail of tenant {tenant} cannot be checkpointed at event {seq} ({detail}): "
        "run `aval audit verify`",
        "la piste d'audit de la collectivité {tenant} ne peut pas être signée à l'événement "
        "n° {seq} ({detail}) : lancez `aval audit verify`",
    ),
    "NO_CHECKPOINT": (
        "no signed checkpoint yet: run `aval audit checkpoint`",
        "aucun point de contrôle signé : lancez `aval audit checkpoint`",
    ),
    "CHECKPOINT_NOT_FOUND": (
        "no signed checkpoint of {tree_size} events in tenant {tenant}",
        "aucun point de contrôle signé de {tree_size} événements dans la collectivité {tenant}",
    ),
    "NOT_YET_CHECKPOINTED": (
        "event {seq} is not covered by the checkpoint of {tree_size} events: run "
        "`aval audit checkpoint`",
        "l'événement n° {seq} n'est pas couvert par le point de contrôle de {tree_size} "
        "événements : lancez `aval audit checkpoint`",
    ),
    "EVENT_NOT_FOUND": (
        "no event {event} in tenant {tenant}",
        "aucun événement {event} dans la collectivité {tenant}",
    ),
    "TRAIL_GAP": (
        "event {seq} of tenant {tenant} is missing although the checkpoint of {tree_size} "
        "events covers it: run `aval audit verify`",
        "l'événement n° {seq} de la collectivité {tenant} manque alors que le point de contrôle "
        "de {tree_size} événements le couvre : lancez `aval audit verify`",
    ),
    "INVALID_ARGUMENT": ("invalid request: {summary}", "requête invalide : {summary}"),
    # Added to the summary when the refusal names only the first of its bad fields.
    "MORE_VIOLATIONS": ("and {count} more", "et {count} de plus"),
    "EXPORTS_BUSY": (
        "all {limit} export connections of this server are in use: retry when an export ends, "
        "or have the operator raise AVAL_EXPORT_POOL_SIZE",
        "les {limit} connexions d'export de ce serveur sont toutes occupées : réessayez quand un "
        "export se termine, ou faites augmenter AVAL_EXPORT_POOL_SIZE par l'exploitant",
    ),
    "REQUEST_STALLED": (
        "no request arrived within {seconds} seconds of the call's start: send it at once",
        "aucune requête n'est arrivée dans les {seconds} secondes suivant le début de l'appel : "
        "envoyez-la aussitôt",
    ),
    "STREAM_STALLED": (
        "the server ended this stream: its client took no message for {seconds} seconds; read a "
        "stream as it arrives (set AVAL_STREAM_STALL_SECONDS on the server to wait longer)",
        "le serveur a clos ce flux : son client n'en a lu aucun message pendant {seconds} "
        "secondes ; lisez un flux au fil de l'eau (AVAL_STREAM_STALL_SECONDS sur le serveur "
        "permet d'attendre plus longtemps)",
    ),
    # The Admin service (service/administration.py, service/oversight.py).
    "AI_SYSTEM_NOT_FOUND": (
        "no AI system {ai_system!r} in tenant {tenant}: register it with "
        "`aval admin systems register`",
        "aucun système d'IA {ai_system!r} dans la collectivité {tenant} : enregistrez-le avec "
        "`aval admin systems register`",
    ),
    "MODEL_VERSION_NOT_REGISTERED": (
        "version {version!r} of {ai_system!r} is not registered: register it first with "
        "`aval admin versions add {ai_system} {version}`",
        "la version {version!r} de {ai_system!r} n'est pas enregistrée : enregistrez-la d'abord "
        "avec `aval admin versions add {ai_system} {version}`",
    ),
    "MODEL_VERSION_EXISTS": (
        "version {version!r} of {ai_system!r} is already registered with other instructions for "
        "use; they never change: register the new instructions under a new version",
        "la version {version!r} de {ai_system!r} est déjà enregistrée avec d'autres consignes "
        "d'utilisation, qui ne changent jamais : enregistrez les nouvelles sous une nouvelle "
        "version",
    ),
    "ALREADY_PINNED": (
        "version {version!r} is already the pinned version of {ai_system!r}",
        "la version {version!r} est déjà la version épinglée de {ai_system!r}",
    ),
    "PIN_REQUEST_NOT_FOUND": (
        "no pin request {pin_request} in tenant {tenant} (see `aval admin pins`)",
        "aucune demande d'épinglage {pin_request} dans la collectivité {tenant} (voir "
        "`aval admin pins`)",
    ),
    "PIN_REQUEST_CLOSED": (
        "pin request {pin_request} is already {state}: only a pending request can be decided",
        "la demande d'épinglage {pin_request} est déjà close ({state}) : seule une demande en "
        "attente peut être tranchée",
    ),
    "PIN_REQUESTER_CANNOT_DECIDE": (
        "four eyes: {principal} requested this change and can neither approve nor refuse it; "
        "another administrator of {tenant} must decide",
        "principe des quatre yeux : {principal} a demandé ce changement et ne peut ni "
        "l'approuver ni le refuser ; un autre administrateur de {tenant} doit trancher",
    ),
    "CHANGE_NOT_ALLOWED": (
        "the change of {ai_system!r} asks for what the AI egress file no longer allows "
        "({fields}): refuse it, or ask the operator to allow it (AVAL_AI_EGRESS_FILE)",
        "le changement de {ai_system!r} demande ce que le fichier de sortie vers l'IA n'autorise "
        "plus ({fields}) : refusez-le, ou demandez à l'exploitant de l'autoriser "
        "(AVAL_AI_EGRESS_FILE)",
    ),
    "SHADOW_IS_PINNED": (
        "version {version!r} is the pinned version of {ai_system!r}: a shadow runs another, "
        "candidate version beside it",
        "la version {version!r} est la version épinglée de {ai_system!r} : le mode fantôme fait "
        "tourner une autre version, candidate, à côté d'elle",
    ),
}

# Reasons of single bad fields (google.rpc.BadRequest.FieldViolation.reason).
VIOLATIONS: dict[str, tuple[str, str]] = {
    "REQUIRED": ("required", "obligatoire"),
    "NOT_A_UUID": ("must be a UUID", "doit être un UUID"),
    "ONE_WORD": ("must be one word without spaces", "doit être un seul mot, sans espace"),
    "NOT_EMPTY": ("must not be empty", "ne doit pas être vide"),
    "ONE_OF": ("must be one of {allowed}", "doit être l'une des valeurs {allowed}"),
    "OUT_OF_RANGE": ("out of range: {detail}", "hors limites : {detail}"),
    "TOO_LONG": ("longer than {limit}", "plus long que {limit}"),
    "NOT_FINITE": ("numbers must be finite", "les nombres doivent être finis"),
    "TOO_LARGE": (
        "larger than the limit of {limit} bytes",
        "dépasse la limite de {limit} octets",
    ),
    "UNKNOWN_TENANT": ("unknown tenant {tenant!r}", "collectivité inconnue : {tenant!r}"),
    "UNKNOWN_DECISION_TYPE": (
        "unknown decision type {decision_type!r} for tenant {tenant}; known: {known}",
        "type de décision inconnu {decision_type!r} pour {tenant} ; types connus : {known}",
    ),
    "BAD_PAGE_TOKEN": (
        "not a token from a previous reply",
        "ce n'est pas un jeton de page d'une réponse précédente",
    ),
    "JUSTIFICATION_REQUIRED": (
        "the policy of {decision_type} requires a justification to {verdict}",
        "la politique de {decision_type} exige une justification pour {verdict_fr}",
    ),
    "AMENDED_OUTPUT_REQUIRED": ("required to amend", "obligatoire pour amender"),
    "AMENDED_OUTPUT_NOT_ALLOWED": (
        "only allowed with VERDICT_AMEND",
        "permis seulement avec VERDICT_AMEND",
    ),
    "INVALID_VALUE": ("{detail}", "valeur invalide : {detail}"),
    # Bodies that cannot be decoded (service/admission.py).
    "UNDECODABLE": (
        "not a valid {message} message: its bytes are corrupt or truncated",
        "ce n'est pas un message {message} valide : ses octets sont corrompus ou tronqués",
    ),
    "NO_MESSAGE": (
        "the call carried no {message} message",
        "l'appel ne contenait aucun message {message}",
    ),
    "NOT_UTF8": (
        "a text field of this {message} holds bytes that are not UTF-8",
        "un champ texte de ce message {message} contient des octets qui ne sont pas de l'UTF-8",
    ),
    "NESTED_TOO_DEEP": (
        "JSON nested deeper than {limit} levels of objects and arrays",
        "JSON imbriqué sur plus de {limit} niveaux d'objets et de listes",
    ),
    # The Admin service (service/admin_requests.py, service/oversight.py).
    "AI_SYSTEM_NAME": (
        "lowercase letters, digits, '.', '_' and '-', starting with a letter or a digit, at "
        "most 63 characters (e.g. orienteur-voirie)",
        "lettres minuscules, chiffres, « . », « _ » et « - », commençant par une lettre ou un "
        "chiffre, 63 caractères au plus (par exemple orienteur-voirie)",
    ),
    "ENDPOINT_URL": (
        "{value!r} is not the base URL of an OpenAI-compatible API: expected "
        "http(s)://HOST[:PORT]/PATH, e.g. http://127.0.0.1:11434/v1",
        "{value!r} n'est pas l'URL de base d'une API compatible OpenAI : attendu "
        "http(s)://HÔTE[:PORT]/CHEMIN, par exemple http://127.0.0.1:11434/v1",
    ),
    "ENDPOINT_CREDENTIALS": (
        "must not contain credentials: the operator declares the API key as a secret of the "
        "tenant (AVAL_AI_EGRESS_FILE), and api_key_env names that secret",
        "ne doit contenir aucun identifiant : l'exploitant déclare la clé d'API comme secret de "
        "la collectivité (AVAL_AI_EGRESS_FILE), et api_key_env donne le nom de ce secret",
    ),
    "ENDPOINT_HOST": (
        "{host!r} is neither a DNS host name nor an IP address in its usual form",
        "{host!r} n'est ni un nom d'hôte DNS ni une adresse IP sous sa forme habituelle",
    ),
    # What the operator's AI egress file allows a tenant (service/egress.py).
    "NO_AI_EGRESS": (
        "this server allows AI systems no endpoint and no secret: its operator lists them, per "
        "tenant, in the AI egress file named by {setting}",
        "ce serveur n'autorise aux systèmes d'IA aucune destination ni aucun secret : son "
        "exploitant les déclare, par collectivité, dans le fichier de sortie vers l'IA nommé par "
        "{setting}",
    ),
    "ENDPOINT_NOT_ALLOWED": (
        "{endpoint} is not on the AI egress allow-list of tenant {tenant}: ask the operator to "
        "allow it in the AI egress file ({setting}); a host name allowed through a network must "
        "resolve only to addresses in it",
        "{endpoint} n'est pas dans la liste des destinations autorisées de la collectivité "
        "{tenant} : demandez à l'exploitant de l'autoriser dans le fichier de sortie vers l'IA "
        "({setting}) ; un nom d'hôte autorisé par un réseau ne doit se résoudre qu'en adresses de "
        "ce réseau",
    ),
    "SECRET_NOT_DECLARED": (
        "not a secret the operator declared for tenant {tenant}; declared: {declared} (the "
        "operator declares them in {setting}; never an environment variable nor a key)",
        "ce n'est pas un secret que l'exploitant a déclaré pour la collectivité {tenant} ; "
        "secrets déclarés : {declared} (l'exploitant les déclare dans {setting} ; jamais une "
        "variable d'environnement ni une clé)",
    ),
    "ADVISOR_ADDRESS": (
        "{value!r} is not the address of an Advisor service: expected HOST:PORT, e.g. "
        "127.0.0.1:50061",
        "{value!r} n'est pas l'adresse d'un service Advisor : attendu HÔTE:PORT, par exemple "
        "127.0.0.1:50061",
    ),
    "MODEL_REQUIRED": (
        "required for an OpenAI-compatible backend: the name of the model it serves",
        "obligatoire pour une API compatible OpenAI : le nom du modèle qu'elle sert",
    ),
    "PIN_BY_REQUEST": (
        "only an approved pin request changes the pinned version: `aval admin pin`",
        "seule une demande d'épinglage approuvée change la version épinglée : `aval admin pin`",
    ),
    "SHADOW_BY_SET_SHADOW": (
        "the shadow version is set by SetShadow: `aval admin shadow`",
        "la version fantôme se règle par SetShadow : `aval admin shadow`",
    ),
    "TOO_MANY": ("more than {limit} entries", "plus de {limit} entrées"),
    "METRIC_NAME": (
        "a metric's name has 1 to 100 characters",
        "le nom d'une mesure a de 1 à 100 caractères",
    ),
    "TARGET_NOT_ALLOWED": (
        "must be empty for STOP_SCOPE_TENANT: the tenant is the request's `tenant`",
        "doit être vide pour STOP_SCOPE_TENANT : la collectivité est le champ `tenant`",
    ),
    "UNKNOWN_AI_SYSTEM": (
        "unknown AI system {ai_system!r} in tenant {tenant}; registered: {known}",
        "système d'IA inconnu {ai_system!r} dans {tenant} ; systèmes enregistrés : {known}",
    ),
    # Hostile input (service/servicers/edge.py, service/payloads.py, service/text.py).
    "NUL_CHARACTER": (
        "must not contain the NUL character (U+0000)",
        "ne doit pas contenir le caractère NUL (U+0000)",
    ),
    "OUTPUT_SCHEMA": (
        "does not satisfy the output schema of {decision_type}: {detail}",
        "ne respecte pas le schéma de sortie de {decision_type} : {detail}",
    ),
    "VISIBLE_TEXT_REQUIRED": (
        "must contain at least one visible character (a letter, digit, punctuation mark or "
        "symbol): spaces, zero-width and control characters alone say nothing",
        "doit contenir au moins un caractère visible (lettre, chiffre, ponctuation ou "
        "symbole) : des espaces, des caractères invisibles ou de contrôle seuls ne disent rien",
    ),
}

LANGUAGES = ("en", "fr")

# Characters of a parameter that a refusal shows, at most: parameters repeat what the caller
# sent, and a refusal must stay small enough for any client to read (its trailers).
ECHO_LIMIT = 100
# Parameters the server supplies rather than the caller, shown longer: what the caller may
# choose among (a tenant's decision types, its AI systems).
LONGER_ECHO = {"known": 500}


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def shown(value: object, limit: int = ECHO_LIMIT) -> str:
    """A parameter as refusals show it: at most `limit` characters, then an ellipsis, with
    invisible characters (controls, bidi and zero-width marks…) written as escapes, so that
    no refusal can reorder or hide text on the reader's screen."""
    out: list[str] = []
    size = 0
    for char in value if isinstance(value, str) else str(value):
        piece = char if char.isprintable() else _escape(char)
        if size + len(piece) > limit:
            out.append("…")
            break
        out.append(piece)
        size += len(piece)
    return "".join(out)


class _Echo(string.Formatter):
    """Fills placeholders with `shown` parameters; `{x!r}` quotes them."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        value, used = super().get_field(field_name, args, kwargs)
        text = shown(value, LONGER_ECHO.get(field_name, ECHO_LIMIT))
        return text, used

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        return "'" + value.replace("'", "\\'") + "'" if conversion == "r" else value


_ECHO = _Echo()


def render(table: dict[str, tuple[str, str]], reason: str, language: str, **params: Any) -> str:
    """The text of a reason in a language ("en" or "fr"), its placeholders filled with the
    parameters as `shown` (cut short, invisible characters escaped)."""
    english, french = table[reason]
    return _ECHO.vformat(french if language == "fr" else english, (), params)


def shown_params(params: Mapping[str, Any]) -> dict[str, str]:
    """The parameters as ErrorInfo.metadata carries them: each `shown`."""
    return {
        str(key): shown(value, LONGER_ECHO.get(str(key), ECHO_LIMIT))
        for key, value in params.items()
    }
