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
    "help.suggestion": (
        "sortie suggérée par votre IA (objet JSON) ; sans elle, le système d'IA du type de "
        "décision propose"
    ),
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
    "help.verify_since": "ne signaler que les problèmes des événements depuis cette date",
    "help.offline": "vérifier un lot exporté (dossier), sans serveur ni base de données",
    "help.public_key": "clé publique de confiance (fichier ou hexadécimal) pour --offline",
    "verify_progress": "vérification : {checked} / {total} événements",
    "verify_own_key": (
        "attention : vérifié avec la clé publique fournie dans le lot lui-même ; comparez son "
        "empreinte avec une clé obtenue par un autre canal (--public-key)"
    ),
    "bundle_unreadable": "lot illisible : {error}",
    "help.bundle": "écrire un lot autonome vérifiable hors ligne (événements, points de "
    "contrôle, clé publique, README) dans ce dossier",
    "bundle_written": "lot écrit dans {path} : {events} événement(s), {checkpoints} point(s) de "
    "contrôle ; vérifiez-le avec `aval audit verify --offline {path} --public-key CLÉ`",
    "help.explain": "expliquer une décision",
    "help.audience": "destinataire de l'explication",
    "help.tenants": "plusieurs collectivités séparées par des virgules (inspection mutualisée)",
    "help.since_events": "événements survenus depuis cette date (RFC 3339 ou AAAA-MM-JJ, heure "
    "locale par défaut)",
    "help.until_events": "événements survenus avant cette date (exclue)",
    "help.type_filter": "seulement les événements des décisions de ce type",
    "help.ai_system": "seulement les décisions suggérées par ce système d'IA (nom du modèle)",
    "help.model_version": "seulement les décisions suggérées par cette version de modèle",
    "help.reviewer": "seulement les événements de cet agent",
    "help.verdict": "seulement les avis de ce sens (approve, amend, reject)",
    "help.overrode": (
        "yes : décisions où un agent a amendé ou rejeté la suggestion de l'IA ; no : les autres"
    ),
    "help.export": "exporter les événements en JSON Lines ou CSV (mêmes filtres que events)",
    "help.export_format": "format : jsonl (un objet JSON par ligne) ou csv",
    "help.out": "fichier à écrire (sortie standard par défaut)",
    "bad_moment": (
        "date invalide {value!r} : attendu AAAA-MM-JJ ou RFC 3339 (2025-06-01T08:30:00+02:00)"
    ),
    "export_progress": "{events} événement(s) exporté(s), {size} Kio",
    "exported": "{events} événement(s) exporté(s) dans {path}",
    "col.tenant": "COLLECTIVITÉ",
    "help.stats": "statistiques : dérogations, accord IA-agents, délais, approbation machinale",
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
    "resource_exhausted": "limite de la passerelle atteinte : {message}",
    "aborted": "appel interrompu par la passerelle : {message}",
    "json_invalid": "JSON invalide : {error} (ligne {line}, colonne {column})",
    "json_not_object": 'objet JSON attendu, par exemple {{"service": "voirie"}}',
    "not_positive": "nombre positif ou nul attendu, pas {value!r}",
    "server_missing": "la passerelle n'est pas installée ici ({error})",
    "chain_broken": "piste d'audit altérée : {count} problème(s), le premier : {first}",
    "at_event": "{kind} à l'événement n° {seq}",
    "at_decision": "{kind} sur la décision {decision}",
    "interrupted": "interrompu",
    "not_utf8": "un argument ou une donnée JSON n'est pas du texte UTF-8 valide",
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
    "label.advice": "Origine",
    "label.factors": "Termes pesés",
    "label.limits": "Limite connue",
    "advice.ADVICE_STATUS_UNSPECIFIED": "inconnue",
    "advice.ADVICE_STATUS_ATTESTED": "suggestion attestée par l'application",
    "advice.ADVICE_STATUS_SUGGESTED": "suggestion du système d'IA enregistré",
    "advice.ADVICE_STATUS_UNAVAILABLE": (
        "⚠ AUCUNE SUGGESTION : système d'IA indisponible ({detail})"
    ),
    "advice.ADVICE_STATUS_INVALID_OUTPUT": (
        "⚠ AUCUNE SUGGESTION VALABLE : réponse de l'IA hors du format attendu ({detail})"
    ),
    "advice.ADVICE_STATUS_STOPPED": "⚠ AUCUNE SUGGESTION : IA arrêtée ou non autorisée ({detail})",
    "advice.ADVICE_STATUS_NONE": "aucun système d'IA : décision à prendre par un agent",
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
    # Signed checkpoints and their keys (clients/cli_checkpoints.py).
    "help.keys": "clés de signature des points de contrôle",
    "help.keys_generate": "créer une paire de clés Ed25519 pour signer les points de contrôle",
    "help.keys_out": "dossier où écrire les clés (par défaut : le dossier courant)",
    "help.checkpoint": "signer maintenant un point de contrôle de la piste d'audit",
    "help.checkpoints": "lister les points de contrôle signés, du plus ancien au plus récent",
    "no_signing_key": "la passerelle ne peut pas signer : {message}",
    "trail_broken": "signature refusée : {message}",
    "key_exists": (
        "une clé existe déjà : {path} ; choisissez un autre --out (remplacer la clé rendrait "
        "invérifiables les points de contrôle qu'elle a signés)"
    ),
    "key_unwritable": "impossible d'écrire les clés dans {path} : {error}",
    "key_generated": "Clé de signature créée, identifiant {key_id}.",
    "key_private": "Clé privée (à garder secrète, hors de la base) : {path}",
    "key_public": "Clé publique (à remettre aux inspecteurs) : {path}",
    "checkpoint.title": "Point de contrôle signé",
    "checkpoint.tenant": "Collectivité",
    "checkpoint.size": "Taille",
    "checkpoint.events": "{count} événement(s)",
    "checkpoint.root": "Racine",
    "checkpoint.head": "Dernier hash",
    "checkpoint.key": "Clé",
    "checkpoint.issued": "Signé le",
    "checkpoints.empty": "Aucun point de contrôle.",
    "checkpoints.col.size": "TAILLE",
    "checkpoints.col.issued": "SIGNÉ LE",
    "checkpoints.col.key": "CLÉ",
    "checkpoints.col.root": "RACINE",
    "checkpoints.public_key": "Clé publique : {public_key}",
    # Merkle proofs (clients/cli_proofs.py).
    "help.prove": "prouver qu'un événement figure dans un point de contrôle signé, et le vérifier",
    "help.prove_event": "l'événement : son numéro de séquence ou son identifiant",
    "help.tree_size": "taille du point de contrôle (par défaut : le plus récent)",
    "help.consistency": (
        "prouver que la piste n'a fait que s'allonger entre deux points de contrôle"
    ),
    "help.old_size": "taille de l'ancien point de contrôle",
    "help.new_size": "taille du nouveau point de contrôle (0 : le plus récent)",
    "help.proof_public_key": "clé publique de confiance (fichier ou hexadécimal) des signatures",
    "proof_refused": "preuve impossible : {message}",
    "proof.bad_key": "clé publique illisible : {error}",
    "proof.event": "Événement n° {seq} ({id}) : {kind}",
    "proof.leaf": "Feuille n° {index}, hash {hash}",
    "proof.path": "Chemin d'audit ({count} hash) :",
    "proof.hashes": "Preuve de cohérence ({count} hash) :",
    "proof.included": (
        "Preuve vérifiée : l'événement n° {seq} figure dans l'arbre de {size} événements signé."
    ),
    "proof.consistent": (
        "Preuve vérifiée : l'arbre de {new} événements prolonge celui de {old} sans rien en "
        "modifier."
    ),
    "proof.signature_unchecked": (
        "Signature non vérifiée : passez --public-key avec la clé publique obtenue hors de la "
        "passerelle."
    ),
    "proof.not_included": (
        "preuve d'inclusion invalide : le chemin d'audit de l'événement n° {seq} ne mène pas à "
        "la racine signée de l'arbre de {size} événements"
    ),
    "proof.not_consistent": (
        "preuve de cohérence invalide : l'arbre de {new} événements ne prolonge pas celui de "
        "{old} (historique réécrit)"
    ),
    "proof.note_unreadable": (
        "la note signée du point de contrôle de {size} événements est illisible : {error}"
    ),
    "proof.note_mismatch": (
        "le champ {field} du point de contrôle de {size} événements diffère de sa note signée"
    ),
    "proof.bad_signature": (
        "signature invalide du point de contrôle de {size} événements pour la clé publique donnée"
    ),
    "proof.other_event": "la passerelle a prouvé l'événement n° {got} au lieu de {asked}",
    "proof.other_checkpoint": (
        "la passerelle a répondu avec le point de contrôle de {got} événements au lieu de {asked}"
    ),
    "proof.wrong_index": "la feuille n° {index} ne correspond pas à l'événement n° {seq}",
    "proof.other_tenant": (
        "l'événement appartient à la collectivité {event}, le point de contrôle à {checkpoint}"
    ),
    # Administration of AI systems (clients/cli_admin.py).
    "help.admin": "administrer les systèmes d'IA : registre, épinglage, mode fantôme, arrêt",
    "help.admin_systems": "systèmes d'IA de la collectivité",
    "help.admin_register": "enregistrer un système d'IA, ou modifier sa configuration",
    "help.admin_systems_list": "lister les systèmes d'IA avec leurs versions",
    "help.admin_system": "nom du système d'IA (par exemple orienteur-voirie)",
    "help.admin_kind": "advisor (service gRPC Advisor) ou openai (API compatible OpenAI)",
    "help.admin_endpoint": "URL de base de l'API (http://hôte:11434/v1) ou HÔTE:PORT d'un Advisor",
    "help.admin_model": "nom du modèle envoyé à une API compatible OpenAI",
    "help.admin_api_key_env": (
        "nom d'un secret que l'exploitant a déclaré pour la collectivité (AVAL_AI_EGRESS_FILE), "
        "qui contient la clé d'API"
    ),
    "help.admin_timeout": "délai d'un appel, par exemple 10s ou 500ms (défaut 10s)",
    "help.admin_max_attempts": "tentatives par appel, de 1 à 5 (défaut 2)",
    "help.admin_energy": "estimation d'énergie, en milliwattheures",
    "help.admin_cost": "coût, en millionièmes d'euro",
    "help.admin_enable": "activer le système (défaut pour un nouveau système)",
    "help.admin_disable": "désactiver le système : plus aucun appel ne lui parvient",
    "help.admin_reason": "motif, conservé dans la piste d'audit",
    "help.admin_versions": "versions des modèles",
    "help.admin_versions_add": "enregistrer une version de modèle et ses consignes d'utilisation",
    "help.admin_version": "version du modèle",
    "help.admin_purpose": "finalité prévue de la version",
    "help.admin_limit": "limite connue, montrée aux agents avec chaque suggestion (répétable)",
    "help.admin_accuracy_note": "exactitude, en mots (par exemple « 0,91 sur 120 signalements »)",
    "help.admin_metric": "mesure d'exactitude NOM=VALEUR (répétable)",
    "help.admin_pin": "demander l'épinglage d'une version (un autre administrateur l'approuve)",
    "help.admin_pins": (
        "lister les demandes d'épinglage et de changement de configuration, en attente d'abord"
    ),
    "help.admin_pending": "seulement les demandes en attente",
    "help.admin_approve": "approuver la demande d'un autre administrateur (épinglage, réglage)",
    "help.admin_refuse": "refuser la demande d'un autre administrateur (épinglage, réglage)",
    "help.admin_pin_id": "identifiant de la demande",
    "help.admin_shadow": "faire tourner une version candidate en mode fantôme, ou l'arrêter",
    "help.admin_off": "arrêter le mode fantôme",
    "help.admin_stop": "arrêter l'IA (arrêt d'urgence) : les propositions vont en examen manuel",
    "help.admin_resume": "lever un arrêt de l'IA",
    "help.admin_all_ai": "toute l'IA de cette collectivité",
    "help.admin_stop_type": "l'IA de ce type de décision",
    "help.admin_stop_system": "ce système d'IA, quel que soit le type de décision",
    "help.admin_stops": "lister les arrêts en vigueur",
    "help.admin_evaluate": "évaluer les versions d'un système d'IA face aux décisions humaines",
    "help.admin_eval_type": "seulement ce type de décision",
    "help.admin_usage": "appels à l'IA, jetons, durée, énergie et coût estimés",
    "admin.bad_duration": "durée invalide {value!r} : attendu un nombre suivi de ms, s ou m (10s)",
    "admin.bad_attempts": "nombre de tentatives invalide {value!r} : attendu un entier de 1 à 5",
    "admin.bad_metric": "mesure invalide {value!r} : attendu NOM=NOMBRE (accuracy=0.91)",
    "admin_refused": "refusé : {message}",
    "admin.system_created": "Système d'IA {name} enregistré.",
    "admin.system_updated": "Système d'IA {name} mis à jour.",
    "admin.system_now": "Système d'IA {name} :",
    "admin.systems_empty": "Aucun système d'IA enregistré (aval admin systems register).",
    "admin.version_registered": "Version {version} de {name} enregistrée.",
    "admin.pin_requested": "Demande d'épinglage {id} : {name} → version {version}.",
    "admin.pin_previous": "Version épinglée actuelle : {previous}.",
    "admin.pin_next": (
        "Un autre administrateur doit l'approuver : aval admin pins approve {id} --reason …"
    ),
    "admin.pin_approved": "Épinglage approuvé : {name} utilise désormais la version {pinned}.",
    "admin.change_held": (
        "Changement en attente {id} : {fields} de {name} ne change qu'après l'approbation d'un "
        "autre administrateur (quatre yeux)."
    ),
    "admin.change_approved": "Changement approuvé pour {name} : {fields} modifiés.",
    "admin.change_refused": "Demande {id} refusée : {name} garde sa configuration ({fields}).",
    "admin.change_column": "configuration : {fields}",
    "admin.pin_refused": (
        "Demande {id} refusée : {name} garde sa version épinglée ({pinned}), pas {version}."
    ),
    "admin.shadow_on": (
        "Mode fantôme : la version {version} de {name} répond à côté de la version épinglée ; "
        "ses suggestions sont enregistrées, jamais montrées."
    ),
    "admin.shadow_off": "Mode fantôme arrêté pour {name}.",
    "admin.stopped": (
        "IA arrêtée : {scope}. Plus aucun appel ne lui parvient ; les propositions vont en "
        "examen manuel."
    ),
    "admin.already_stopped": "Déjà arrêté : {scope}, par {who} le {when}.",
    "admin.stop_reason": "Motif : {reason}",
    "admin.resumed": "IA rétablie : {scope}.",
    "admin.not_stopped": "Rien à rétablir : {scope} n'était pas arrêté.",
    "admin.your_tenant": "votre collectivité",
    "admin.scope.tenant": "toute l'IA de la collectivité {tenant}",
    "admin.scope.decision_type": "l'IA du type de décision {target}",
    "admin.scope.ai_system": "le système d'IA {target}",
    "admin.kind.BACKEND_KIND_UNSPECIFIED": "type inconnu",
    "admin.kind.BACKEND_KIND_OPENAI_COMPATIBLE": "API compatible OpenAI",
    "admin.kind.BACKEND_KIND_ADVISOR": "service Advisor",
    "admin.label.system": "Système d'IA",
    "admin.label.endpoint": "Adresse",
    "admin.label.pinned": "Version épinglée",
    "admin.label.shadow": "Version fantôme",
    "admin.label.enabled": "Activé",
    "admin.label.calls": "Appels",
    "admin.label.energy": "Énergie",
    "admin.label.cost": "Coût",
    "admin.label.api_key_env": "Clé d'API",
    "admin.none": "aucune",
    "admin.yes": "oui",
    "admin.no": "non",
    "admin.calls_config": "délai {timeout}, {attempts} tentative(s)",
    "admin.per_call_and_tokens": "{call} par appel + {tokens} par 1000 jetons",
    "admin.no_versions": "Aucune version enregistrée (aval admin versions add {name} …).",
    "admin.version": "Version {version}, enregistrée par {who} le {when} : {purpose}",
    "admin.limit": "    limite : {limit}",
    "admin.pin_state.PIN_REQUEST_STATE_UNSPECIFIED": "état inconnu",
    "admin.pin_state.PIN_REQUEST_STATE_PENDING": "en attente",
    "admin.pin_state.PIN_REQUEST_STATE_APPROVED": "approuvée",
    "admin.pin_state.PIN_REQUEST_STATE_REFUSED": "refusée",
    "admin.pin_state.PIN_REQUEST_STATE_SUPERSEDED": "remplacée",
    "admin.pins_empty": "Aucune demande d'épinglage.",
    "admin.col.id": "DEMANDE",
    "admin.col.system": "SYSTÈME",
    "admin.col.version": "VERSION",
    "admin.col.state": "ÉTAT",
    "admin.col.by": "DEMANDÉE / TRANCHÉE PAR",
    "admin.col.at": "LE",
    "admin.stops_empty": "Aucun arrêt en vigueur : l'IA est appelée normalement.",
    "admin.col.scope": "ARRÊT",
    "admin.col.stopped_by": "PAR",
    "admin.col.stopped_at": "DEPUIS",
    "admin.col.reason": "MOTIF",
    "admin.role.CALL_ROLE_UNSPECIFIED": "?",
    "admin.role.CALL_ROLE_PRIMARY": "épinglée",
    "admin.role.CALL_ROLE_SHADOW": "fantôme",
    "admin.evaluation_empty": "Aucun appel enregistré pour {name}.",
    "admin.col.role": "RÔLE",
    "admin.col.calls": "APPELS",
    "admin.col.suggestions": "SUGG.",
    "admin.col.failed": "INDISP./INVAL.",
    "admin.col.decided": "DÉCIDÉES",
    "admin.col.agreement": "ACCORD",
    "admin.col.override": "DÉROGATION",
    "admin.col.p50": "P50",
    "admin.col.p90": "P90",
    "admin.col.tokens": "JETONS E/S",
    "admin.col.energy": "ÉNERGIE",
    "admin.col.cost": "COÛT",
    "admin.evaluation_note": (
        "Accord : suggestions identiques à la décision finale des agents ; dérogation : "
        "suggestions amendées ou rejetées (pour le fantôme : qu'il aurait fallu corriger)."
    ),
    "admin.usage_empty": "Aucun appel à l'IA sur la période.",
    "admin.col.type": "TYPE DE DÉCISION",
    "admin.col.failures": "ÉCHECS",
    "admin.col.time": "DURÉE",
    "admin.usage_total": "Total : {calls} appel(s), {energy}, {cost} (estimations).",
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
    "help.suggestion": (
        "output your AI suggested (JSON object); without it, the decision type's AI system suggests"
    ),
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
    "help.verify_since": "report only problems of events since this date",
    "help.offline": "verify an exported bundle (folder), with no server or database",
    "help.public_key": "public key to trust (file or hex) with --offline",
    "verify_progress": "verifying: {checked} / {total} events",
    "verify_own_key": (
        "warning: verified with the public key the bundle itself carries; compare its "
        "fingerprint with a key obtained another way (--public-key)"
    ),
    "bundle_unreadable": "unreadable bundle: {error}",
    "help.bundle": "write a self-contained bundle to verify offline (events, checkpoints, "
    "public key, README) into this folder",
    "bundle_written": "bundle written to {path}: {events} event(s), {checkpoints} checkpoint(s); "
    "verify it with `aval audit verify --offline {path} --public-key KEY`",
    "help.explain": "explain a decision",
    "help.audience": "who the explanation is for",
    "help.tenants": "several tenants, separated by commas (pooled inspection)",
    "help.since_events": "events that occurred at or after this date (RFC 3339 or YYYY-MM-DD, "
    "local time by default)",
    "help.until_events": "events that occurred before this date",
    "help.type_filter": "only events of decisions of this type",
    "help.ai_system": "only decisions suggested by this AI system (model name)",
    "help.model_version": "only decisions suggested by this model version",
    "help.reviewer": "only events of this reviewer",
    "help.verdict": "only verdicts of this kind (approve, amend, reject)",
    "help.overrode": "yes: decisions where a human amended or rejected the AI's suggestion; no: "
    "the others",
    "help.export": "export events as JSON Lines or CSV (same filters as events)",
    "help.export_format": "format: jsonl (one JSON object per line) or csv",
    "help.out": "file to write (standard output by default)",
    "bad_moment": "invalid date {value!r}: expected YYYY-MM-DD or RFC 3339 "
    "(2025-06-01T08:30:00+02:00)",
    "export_progress": "{events} event(s) exported, {size} KiB",
    "exported": "{events} event(s) exported to {path}",
    "col.tenant": "TENANT",
    "help.stats": "statistics: overrides, AI-human agreement, delays, rubber-stamping",
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
    "resource_exhausted": "a limit of the gateway was reached: {message}",
    "aborted": "the gateway ended the call: {message}",
    "json_invalid": "invalid JSON: {error} (line {line}, column {column})",
    "json_not_object": 'a JSON object is expected, e.g. {{"service": "voirie"}}',
    "not_positive": "a number of at least 0 is expected, not {value!r}",
    "server_missing": "the gateway is not installed here ({error})",
    "chain_broken": "audit trail tampered with: {count} problem(s), the first: {first}",
    "at_event": "{kind} at event #{seq}",
    "at_decision": "{kind} on decision {decision}",
    "interrupted": "interrupted",
    "not_utf8": "an argument or a JSON value is not valid UTF-8 text",
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
    "label.advice": "Origin",
    "label.factors": "Weighed terms",
    "label.limits": "Known limit",
    "advice.ADVICE_STATUS_UNSPECIFIED": "unknown",
    "advice.ADVICE_STATUS_ATTESTED": "suggestion attested by the application",
    "advice.ADVICE_STATUS_SUGGESTED": "suggestion of the registered AI system",
    "advice.ADVICE_STATUS_UNAVAILABLE": "⚠ NO SUGGESTION: AI system unavailable ({detail})",
    "advice.ADVICE_STATUS_INVALID_OUTPUT": (
        "⚠ NO VALID SUGGESTION: the AI answered outside the expected format ({detail})"
    ),
    "advice.ADVICE_STATUS_STOPPED": "⚠ NO SUGGESTION: AI stopped or not allowed ({detail})",
    "advice.ADVICE_STATUS_NONE": "no AI system: an agent decides",
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
    "help.keys": "keys that sign checkpoints",
    "help.keys_generate": "create an Ed25519 key pair to sign checkpoints",
    "help.keys_out": "folder to write the keys to (default: the current folder)",
    "help.checkpoint": "sign a checkpoint of the audit trail now",
    "help.checkpoints": "list the signed checkpoints, oldest first",
    "no_signing_key": "the gateway cannot sign: {message}",
    "trail_broken": "signature refused: {message}",
    "key_exists": (
        "a key already exists: {path}; choose another --out (replacing the key would leave "
        "the checkpoints it signed unverifiable)"
    ),
    "key_unwritable": "cannot write the keys to {path}: {error}",
    "key_generated": "Signing key created, id {key_id}.",
    "key_private": "Private key (keep it secret, out of the database): {path}",
    "key_public": "Public key (give it to inspectors): {path}",
    "checkpoint.title": "Signed checkpoint",
    "checkpoint.tenant": "Tenant",
    "checkpoint.size": "Size",
    "checkpoint.events": "{count} event(s)",
    "checkpoint.root": "Root",
    "checkpoint.head": "Head hash",
    "checkpoint.key": "Key",
    "checkpoint.issued": "Signed on",
    "checkpoints.empty": "No checkpoint.",
    "checkpoints.col.size": "SIZE",
    "checkpoints.col.issued": "SIGNED ON",
    "checkpoints.col.key": "KEY",
    "checkpoints.col.root": "ROOT",
    "checkpoints.public_key": "Public key: {public_key}",
    "help.prove": "prove that an event is in a signed checkpoint, and check the proof",
    "help.prove_event": "the event: its sequence number or its id",
    "help.tree_size": "size of the checkpoint (default: the latest)",
    "help.consistency": "prove that the trail only grew between two checkpoints",
    "help.old_size": "size of the older checkpoint",
    "help.new_size": "size of the newer checkpoint (0: the latest)",
    "help.proof_public_key": "public key to trust (file or hex) for the signatures",
    "proof_refused": "no proof possible: {message}",
    "proof.bad_key": "unreadable public key: {error}",
    "proof.event": "Event #{seq} ({id}): {kind}",
    "proof.leaf": "Leaf #{index}, hash {hash}",
    "proof.path": "Audit path ({count} hashes):",
    "proof.hashes": "Consistency proof ({count} hashes):",
    "proof.included": "Proof verified: event #{seq} is in the signed tree of {size} events.",
    "proof.consistent": (
        "Proof verified: the tree of {new} events extends that of {old} without changing it."
    ),
    "proof.signature_unchecked": (
        "Signature not checked: pass --public-key with the public key obtained outside the gateway."
    ),
    "proof.not_included": (
        "invalid inclusion proof: the audit path of event #{seq} does not lead to the signed "
        "root of the tree of {size} events"
    ),
    "proof.not_consistent": (
        "invalid consistency proof: the tree of {new} events does not extend that of {old} "
        "(history rewritten)"
    ),
    "proof.note_unreadable": (
        "the signed note of the checkpoint of {size} events is unreadable: {error}"
    ),
    "proof.note_mismatch": (
        "the {field} of the checkpoint of {size} events differs from its signed note"
    ),
    "proof.bad_signature": (
        "invalid signature of the checkpoint of {size} events for the given public key"
    ),
    "proof.other_event": "the gateway proved event #{got} instead of {asked}",
    "proof.other_checkpoint": (
        "the gateway answered with the checkpoint of {got} events instead of {asked}"
    ),
    "proof.wrong_index": "leaf #{index} does not match event #{seq}",
    "proof.other_tenant": "the event belongs to tenant {event}, the checkpoint to {checkpoint}",
    "help.admin": "administer AI systems: registry, pinning, shadow mode, kill switch",
    "help.admin_systems": "the tenant's AI systems",
    "help.admin_register": "register an AI system, or change its configuration",
    "help.admin_systems_list": "list the AI systems with their versions",
    "help.admin_system": "name of the AI system (e.g. orienteur-voirie)",
    "help.admin_kind": "advisor (a gRPC Advisor service) or openai (an OpenAI-compatible API)",
    "help.admin_endpoint": "base URL of the API (http://host:11434/v1) or HOST:PORT of an Advisor",
    "help.admin_model": "model name sent to an OpenAI-compatible API",
    "help.admin_api_key_env": (
        "name of a secret the operator declared for the tenant (AVAL_AI_EGRESS_FILE), holding "
        "the API key"
    ),
    "help.admin_timeout": "deadline of a call, e.g. 10s or 500ms (default 10s)",
    "help.admin_max_attempts": "attempts per call, 1 to 5 (default 2)",
    "help.admin_energy": "energy estimate, in milliwatt-hours",
    "help.admin_cost": "cost, in millionths of a euro",
    "help.admin_enable": "enable the system (the default for a new system)",
    "help.admin_disable": "disable the system: no call reaches it any more",
    "help.admin_reason": "why, kept in the audit trail",
    "help.admin_versions": "model versions",
    "help.admin_versions_add": "register a model version and its instructions for use",
    "help.admin_version": "model version",
    "help.admin_purpose": "intended purpose of the version",
    "help.admin_limit": "known limit, shown to reviewers with each suggestion (repeatable)",
    "help.admin_accuracy_note": "accuracy in words (e.g. '0.91 on 120 reports')",
    "help.admin_metric": "accuracy figure NAME=VALUE (repeatable)",
    "help.admin_pin": "request to pin a version (another administrator approves it)",
    "help.admin_pins": "list pin and configuration change requests, pending first",
    "help.admin_pending": "only pending requests",
    "help.admin_approve": "approve another administrator's request (pin, configuration)",
    "help.admin_refuse": "refuse another administrator's request (pin, configuration)",
    "help.admin_pin_id": "the request's id",
    "help.admin_shadow": "run a candidate version in shadow mode, or stop it",
    "help.admin_off": "stop the shadow mode",
    "help.admin_stop": "stop the AI (kill switch): proposals go to manual review",
    "help.admin_resume": "lift a stop of the AI",
    "help.admin_all_ai": "all AI of this tenant",
    "help.admin_stop_type": "the AI of this decision type",
    "help.admin_stop_system": "this AI system, whatever the decision type",
    "help.admin_stops": "list the stops in force",
    "help.admin_evaluate": "evaluate an AI system's versions against human decisions",
    "help.admin_eval_type": "only this decision type",
    "help.admin_usage": "AI calls, tokens, time, estimated energy and cost",
    "admin.bad_duration": "invalid duration {value!r}: expected a number followed by ms, s or m "
    "(10s)",
    "admin.bad_attempts": "invalid number of attempts {value!r}: expected an integer from 1 to 5",
    "admin.bad_metric": "invalid metric {value!r}: expected NAME=NUMBER (accuracy=0.91)",
    "admin_refused": "refused: {message}",
    "admin.system_created": "AI system {name} registered.",
    "admin.system_updated": "AI system {name} updated.",
    "admin.system_now": "AI system {name}:",
    "admin.systems_empty": "No AI system registered (aval admin systems register).",
    "admin.version_registered": "Version {version} of {name} registered.",
    "admin.pin_requested": "Pin request {id}: {name} → version {version}.",
    "admin.pin_previous": "Currently pinned version: {previous}.",
    "admin.pin_next": "Another administrator must approve it: aval admin pins approve {id} "
    "--reason …",
    "admin.pin_approved": "Pin approved: {name} now uses version {pinned}.",
    "admin.change_held": (
        "Change pending {id}: {fields} of {name} change only once another administrator "
        "approves (four eyes)."
    ),
    "admin.change_approved": "Change approved for {name}: {fields} changed.",
    "admin.change_refused": "Request {id} refused: {name} keeps its configuration ({fields}).",
    "admin.change_column": "configuration: {fields}",
    "admin.pin_refused": "Request {id} refused: {name} keeps its pinned version ({pinned}), not "
    "{version}.",
    "admin.shadow_on": (
        "Shadow mode: version {version} of {name} answers beside the pinned version; its "
        "suggestions are recorded, never shown."
    ),
    "admin.shadow_off": "Shadow mode stopped for {name}.",
    "admin.stopped": "AI stopped: {scope}. No call reaches it; proposals go to manual review.",
    "admin.already_stopped": "Already stopped: {scope}, by {who} on {when}.",
    "admin.stop_reason": "Reason: {reason}",
    "admin.resumed": "AI resumed: {scope}.",
    "admin.not_stopped": "Nothing to resume: {scope} was not stopped.",
    "admin.your_tenant": "your tenant",
    "admin.scope.tenant": "all AI of tenant {tenant}",
    "admin.scope.decision_type": "the AI of decision type {target}",
    "admin.scope.ai_system": "the AI system {target}",
    "admin.kind.BACKEND_KIND_UNSPECIFIED": "unknown kind",
    "admin.kind.BACKEND_KIND_OPENAI_COMPATIBLE": "OpenAI-compatible API",
    "admin.kind.BACKEND_KIND_ADVISOR": "Advisor service",
    "admin.label.system": "AI system",
    "admin.label.endpoint": "Endpoint",
    "admin.label.pinned": "Pinned version",
    "admin.label.shadow": "Shadow version",
    "admin.label.enabled": "Enabled",
    "admin.label.calls": "Calls",
    "admin.label.energy": "Energy",
    "admin.label.cost": "Cost",
    "admin.label.api_key_env": "API key",
    "admin.none": "none",
    "admin.yes": "yes",
    "admin.no": "no",
    "admin.calls_config": "timeout {timeout}, {attempts} attempt(s)",
    "admin.per_call_and_tokens": "{call} per call + {tokens} per 1000 tokens",
    "admin.no_versions": "No version registered (aval admin versions add {name} …).",
    "admin.version": "Version {version}, registered by {who} on {when}: {purpose}",
    "admin.limit": "    limit: {limit}",
    "admin.pin_state.PIN_REQUEST_STATE_UNSPECIFIED": "unknown state",
    "admin.pin_state.PIN_REQUEST_STATE_PENDING": "pending",
    "admin.pin_state.PIN_REQUEST_STATE_APPROVED": "approved",
    "admin.pin_state.PIN_REQUEST_STATE_REFUSED": "refused",
    "admin.pin_state.PIN_REQUEST_STATE_SUPERSEDED": "superseded",
    "admin.pins_empty": "No pin request.",
    "admin.col.id": "REQUEST",
    "admin.col.system": "SYSTEM",
    "admin.col.version": "VERSION",
    "admin.col.state": "STATE",
    "admin.col.by": "REQUESTED / DECIDED BY",
    "admin.col.at": "ON",
    "admin.stops_empty": "No stop in force: the AI is called as usual.",
    "admin.col.scope": "STOP",
    "admin.col.stopped_by": "BY",
    "admin.col.stopped_at": "SINCE",
    "admin.col.reason": "REASON",
    "admin.role.CALL_ROLE_UNSPECIFIED": "?",
    "admin.role.CALL_ROLE_PRIMARY": "pinned",
    "admin.role.CALL_ROLE_SHADOW": "shadow",
    "admin.evaluation_empty": "No call recorded for {name}.",
    "admin.col.role": "ROLE",
    "admin.col.calls": "CALLS",
    "admin.col.suggestions": "SUGG.",
    "admin.col.failed": "UNAVAIL./INVALID",
    "admin.col.decided": "DECIDED",
    "admin.col.agreement": "AGREEMENT",
    "admin.col.override": "OVERRIDE",
    "admin.col.p50": "P50",
    "admin.col.p90": "P90",
    "admin.col.tokens": "TOKENS IN/OUT",
    "admin.col.energy": "ENERGY",
    "admin.col.cost": "COST",
    "admin.evaluation_note": (
        "Agreement: suggestions equal to the reviewers' final decision; override: suggestions "
        "amended or rejected (for a shadow: that would have needed correcting)."
    ),
    "admin.usage_empty": "No AI call in the period.",
    "admin.col.type": "DECISION TYPE",
    "admin.col.failures": "FAILURES",
    "admin.col.time": "TIME",
    "admin.usage_total": "Total: {calls} call(s), {energy}, {cost} (estimates).",
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

    def number(self, value: float, *, signed: bool = False) -> str:
        """Writes a number with two decimals and the language's decimal separator.

        Args:
            value: The number.
            signed: Whether a positive number gets a "+".

        Returns:
            E.g. ``"0,87"`` in French, ``"0.87"`` in English.
        """
        text = f"{value:+.2f}" if signed else f"{value:.2f}"
        return text.replace(".", ",") if self.language == "fr" else text
