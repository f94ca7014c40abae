"""The README.md of an exported bundle: what it holds and every rule needed to verify it
without Aval (the independent verifier of the tests is written from this text alone)."""

from __future__ import annotations

import json
from typing import Any

_HEAD = """\
# Piste d'audit Aval — lot exporté / exported Aval audit trail

Ce dossier contient {scope_fr} de la collectivité `{tenant}`, exporté le {created_at}.
This folder holds {scope_en} of tenant `{tenant}`, exported on {created_at}.

- `events.jsonl` : {events} événement(s), un par ligne, par `seq` croissant / event(s), one
  a line, by increasing `seq`;
- `checkpoints.jsonl` : {checkpoints} point(s) de contrôle signé(s) / signed checkpoint(s);
- `public_key.txt` : clé publique Ed25519 (hex) qui les signe, empreinte `{key_id}` / the
  signing key, its fingerprint;
- `manifest.json` : ce que contient le lot, recalculable à partir des fichiers / what the
  bundle holds, recomputable from the files.

Portée / scope: `{scope}`. Filtres / filters: `{filters}`.
{proof_line}
{unsigned_line}

## Vérifier / Verify

    aval audit verify --offline . --public-key CLÉ_OBTENUE_PAR_UN_AUTRE_CANAL

Ne faites pas confiance à la clé du lot lui-même : comparez son empreinte `{key_id}` avec
celle que la collectivité publie par un autre canal. Un vérificateur indépendant peut être
écrit à partir des seules règles ci-dessous.

Do not trust the bundle's own key: compare its fingerprint `{key_id}` with one the authority
publishes elsewhere. An independent verifier can be written from the rules below alone.

## Ce qui est protégé, et ce qui ne l'est pas

- Protégé : les octets `canonical` de chaque événement couvert par un point de contrôle signé
  (par la chaîne et l'arbre de Merkle d'un lot complet, par une preuve d'inclusion dans un lot
  filtré), et chaque champ lisible d'un événement ou d'un point de contrôle, comparé aux octets
  hachés ou à la note signée.
- Non protégé : les événements qu'aucun point de contrôle signé ne couvre (nommés
  `unsigned_events`) ; la complétude d'un lot filtré (il prouve que chacun de ses événements
  est dans la piste signée, pas qu'aucun événement correspondant n'a été omis), sauf au sein
  de chaque décision d'un lot filtré par décision seule (section 9 : un événement omis y est
  nommé `decision_events_missing`, hors ce qui suivrait le dernier événement d'une décision non
  finale) ; `created_at`
  et les filtres du manifeste (déclarés par l'exportateur, vérifiés seulement contre les
  événements) ; le texte de ce README ; `prev_hash` d'un événement d'un lot filtré.
- Une signature ne prouve que la possession de la clé : la clé doit venir d'un autre canal.

What is protected, and what is not:

- Protected: the `canonical` bytes of every event a signed checkpoint covers (by the chain
  and the Merkle tree in a whole tenant's bundle, by an inclusion proof in a filtered one),
  and every readable field of an event or a checkpoint, compared with the hashed bytes or the
  signed note.
- Not protected: events no signed checkpoint covers (named `unsigned_events`); the
  completeness of a filtered bundle (it proves that each of its events is in the signed trail,
  not that no matching event was left out), except within each decision of a bundle filtered
  by decision alone (section 9: an event left out there is named `decision_events_missing`,
  but not what would follow the last event of a decision that is not final); `created_at` and
  the manifest's filters (the exporter's word, checked only against the events); the text of
  this README; `prev_hash` of an event of a filtered bundle.
- A signature only proves possession of the key: the key must come by another channel.
"""

_RULES = """\
## Rules, to write your own verifier

Everything below is normative: a verifier that applies these rules and nothing else reaches
the same verdict as `aval audit verify --offline`. "hex" is lowercase hexadecimal; "base64" is
the standard alphabet of RFC 4648 section 4 (`+` and `/`, with `=` padding, no line breaks).
Every file is UTF-8. A `.jsonl` file holds one JSON object per line, each line ending with
`\\n` (split lines on `\\n` only; blank lines are skipped).

### 1. `public_key.txt`

Its first line is the raw 32-byte Ed25519 public key (RFC 8032) of the deployment, in hex (64
digits). Its fingerprint (`key_id`) is the first 16 hex digits of SHA-256 over the 32 raw key
bytes. A second line, when present, is the log's verifier key string (c2sp.org/signed-note):
`<key name>+<key hash: 8 hex digits>+<base64(0x01 || the 32 key bytes)>`, where the key hash is
the first 4 bytes of SHA-256(key name || 0x0A || 0x01 || the 32 key bytes). Verify with a key
obtained another way (either spelling); with the bundle's own key, the bundle is only shown
consistent with itself.

### 2. Canonical JSON

The canonical form of a JSON value is what Python's
`json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)`
writes, encoded in UTF-8: object keys sorted by Unicode code point, no white space, strings
with only `"` `\\` and the control characters U+0000–U+001F escaped (`\\n`, `\\r`, `\\t`,
`\\b`, `\\f`, others `\\u00XX` with lowercase hex), integers in decimal, no NaN or
Infinity. Two JSON values are *the same* when their canonical forms are byte-equal (so `1`,
`1.0` and `true` differ).

### 3. `events.jsonl`

Each line is an object with exactly these members (a filtered bundle adds `inclusion`):

| member | type | meaning |
|---|---|---|
| `canonical` | string, base64 | the event's canonical bytes: the only bytes hashed and signed |
| `seq` | integer | the event's position in the tenant's trail, from 1 |
| `prev_hash` | string, hex | chain hash of event `seq - 1` (32 zero bytes for `seq` 1) |
| `hash` | string, hex | chain hash of this event |
| `tenant` | string | readable copy of the canonical `tenant` |
| `event_id` | string | readable copy of the canonical `event_id` |
| `occurred_at` | string | readable copy of the canonical `occurred_at` |
| `decision_id` | string | readable copy of the canonical `decision_id` (`""`: none) |
| `kind` | string | readable copy of the canonical `kind` |
| `actor_id` | string | readable copy of the canonical `actor.id` |
| `actor_type` | string | readable copy of the canonical `actor.type` |
| `trace_id` | string | readable copy of the canonical `trace_id` |
| `schema_version` | integer | readable copy of the canonical `schema_version` |
| `data` | object | readable copy of the canonical `data` |
| `inclusion` | object or null | filtered bundles only: see section 6 |

The canonical bytes decode (UTF-8) to a JSON object with the members `schema_version`,
`event_id`, `tenant`, `occurred_at` (RFC 3339, UTC, microseconds, `Z`), `decision_id`, `kind`,
`actor` (an object with `id` and `type`), `trace_id` and `data`.

**Readable fields.** Each readable member of a line must be *the same* (section 2) as the value
the canonical object holds at the path the table gives (a path missing from the canonical object
counts as null). Each readable member that is not the same, is missing from the line, or is a
member the table does not list, is a problem `readable_field_mismatch` (naming the event and
the member); when the canonical bytes are not a JSON object, every readable member is one.

**Unreadable bundles.** A line of `events.jsonl` that is not a JSON object; that lacks
`canonical`, `seq`, `prev_hash` or `hash`; whose `canonical` is not base64, `seq` not an
integer from -2^63 to 2^63 - 1 (it must fit section 4's 8 bytes), `prev_hash` or `hash` not
hex, or `inclusion` neither null nor an object with integer `tree_size` and `leaf_index` and a
list `audit_path`; a line of `checkpoints.jsonl` that is not a JSON object; a `manifest.json`
that is not a JSON object; a `public_key.txt` whose first word is not hex; a file that is not
UTF-8 or not JSON (however deeply nested): the bundle is unreadable, and no verdict is given
(`aval audit verify --offline` stops with an error naming the file and the line, exit status
1). A missing `events.jsonl`, `checkpoints.jsonl` or `public_key.txt` makes it no bundle at
all.

### 4. Chain hash

`hash = SHA-256(prev_hash || seq || canonical)`, where `prev_hash` is 32 bytes, `seq` is 8 bytes
(big-endian two's complement) and `canonical` the decoded bytes. A line whose `hash` is not this
value: `hash_mismatch`.

### 5. Merkle tree (RFC 9162 section 2.1)

The tree of size `n` has as leaves the canonical bytes of the events of `seq` 1 to `n`, in
order. `leaf_hash(b) = SHA-256(0x00 || b)`; `node_hash(l, r) = SHA-256(0x01 || l || r)`. The
root of an empty tree is SHA-256 of nothing; of one leaf, its leaf hash; of `n > 1` leaves,
`node_hash(root(first k leaves), root(the other n - k))` where `k` is the largest power of two
smaller than `n`.

### 6. Inclusion proofs (filtered bundles)

`inclusion` is null (no signed checkpoint covered the event at export) or
`{{"tree_size": N, "leaf_index": i, "audit_path": [hex, …]}}`: the RFC 9162 audit path of the
event's leaf in the tree of size `N`, from the leaf up. It verifies when `i = seq - 1`,
`0 <= i < N`, every path element is 32 bytes, the bundle holds a valid checkpoint (section 7) of
`tree_size` N, and this computation (RFC 9162 section 2.1.3.2) ends with `sn = 0` and `r` equal
to that checkpoint's `root_hash`:

    fn = i; sn = N - 1; r = leaf_hash(canonical)
    for each p in audit_path:
        if sn == 0: fail
        if fn is odd or fn == sn:
            r = node_hash(p, r)
            if fn is even: while fn is not 0 and fn is even: fn >>= 1; sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1; sn >>= 1

No valid checkpoint of that size: `proof_checkpoint_missing`; a proof that does not verify:
`bad_inclusion_proof`.

### 7. `checkpoints.jsonl` and the signed notes

Aval writes one line: the latest checkpoint when the bundle was made (it covers every event of
a whole tenant's bundle, and every proof of a filtered one leads to it); a verifier accepts any
number. Each line is an object with the members `tenant` (string), `tree_size` (integer),
`root_hash`, `head_hash` (hex), `issued_at`, `key_id` (strings), `signed_note` and `signature`
(base64); the line of a C2SP checkpoint (a) also has `origin` and `note` (strings).
`signature` is the Ed25519 signature (64 bytes) of the exact bytes of `signed_note` under the
deployment's key.
`signed_note` is in one of two formats, told apart by its first line.

**(a) C2SP tlog-checkpoint** (c2sp.org/tlog-checkpoint; every checkpoint signed since this
format): UTF-8 text of exactly five lines, each ending with `\\n`, none empty, no control
character but the newlines:

    <origin>
    <tree_size: decimal, no leading zero, below 2^63>
    <root_hash: standard base64 of the 32-byte Merkle root of the first tree_size events>
    aval/head-hash <64 hex digits: the chain hash of event tree_size>
    aval/issued-at <YYYY-MM-DDTHH:MM:SS.ffffffZ>

The origin is `<log name>/<tenant>`: the tenant is what follows its last `/`, the log name
(the key name of its signature) what precedes it. Its values are `tenant`, `tree_size`,
`root_hash` (in hex), `head_hash`, `issued_at` and `origin`.

`note` is the whole signed note (c2sp.org/signed-note): that text, an empty line, then
signature lines, each `— <key name> <base64(4-byte key hash || signature)>` and `\\n` (an em
dash U+2014 and a space first; the key hash as in section 1). One of them must be the log's:
key name the log name, key hash that of the verifying key with type 0x01, signature equal to
`signature`. The others are witnesses' cosignatures (c2sp.org/tlog-cosignature,
`cosignature/v1`, type 0x04: an 8-byte big-endian timestamp then the Ed25519 signature of
`cosignature/v1\\ntime <timestamp>\\n` followed by the text), checked against a witness
policy (section 12).

**(b) First format** (checkpoints signed before): UTF-8 text of exactly seven lines, each
ending with `\\n`:

    aval.v1/checkpoint
    tenant: <tenant>
    tree_size: <decimal, no leading zero>
    root_hash: <64 hex digits: the Merkle root of the first tree_size events>
    head_hash: <64 hex digits: the chain hash of event tree_size>
    issued_at: <YYYY-MM-DDTHH:MM:SS.ffffffZ>
    key_id: <16 hex digits: the fingerprint of the signing key>

Its values are the six after the header. Its line has no `origin` nor `note`.

**Checks.** A `signed_note` or `signature` that is not base64, or a note in neither form:
`checkpoint_malformed` (the checkpoint is then ignored). A signature that does not verify with
the key: `bad_signature` (ignored too). For a valid checkpoint, each readable member must equal
(as text; `tree_size` an integer whose decimal text it is) the note's value of the same name —
`key_id` in format (a) is the fingerprint of the verifying key —, `note` must be as above, and
the line may hold no other member: otherwise `readable_field_mismatch`. Only the note's values
are used afterwards.

### 8. A bundle of a whole tenant (manifest `scope` = `tenant`)

Read the events in order. The first has `seq` 1 and each next one `seq + 1` (else
`sequence_gap`); each `prev_hash` is the previous line's `hash` (32 zero bytes for the first)
(else `broken_link`); each `hash` follows section 4 (else `hash_mismatch`). After the event of
`seq` equal to a valid checkpoint's `tree_size`, the Merkle root of the events so far must be
the checkpoint's `root_hash` and that event's `hash` its `head_hash` (else `rewritten_history`);
for a checkpoint of size 0, the empty root and 32 zero bytes. A valid checkpoint larger than the
number of events: `truncated`. Events after the largest valid checkpoint (all of them when there
is none): one problem `unsigned_events` (nothing protects them; `aval audit verify --offline
--no-strict` only counts them, to check what is signed).

### 9. A filtered bundle (manifest `scope` = `filtered`)

Each event's `seq` must be larger than the previous line's (else `sequence_order`); each `hash`
follows section 4 (else `hash_mismatch`); each event with an `inclusion` must verify (section
6). Events whose `inclusion` is null (or missing): one problem `unsigned_events` (counted only
with `--no-strict`, as in section 8). `prev_hash`
cannot be checked (the previous event is not in the bundle).

A decision's events are its events of the six kinds of section 10, in the bundle's order. When
the manifest's `filters` name a `decision_id` and none of `kind`, `since` and `until`, the
bundle says it holds every event of its decision, and each of these is a problem
`decision_events_missing`: the decision's first event is not `decision.proposed`; an event's
`data.decision_version` is neither the previous event's nor one more (both integers); a
`review.recorded` whose `data.decision_state` is APPROVED, AMENDED or REJECTED is followed by
no `decision.finalized`; a `decision.finalized` names in `data.validators` or
`data.rejected_by` an id that is the actor `id` of no earlier `review.recorded` of the
decision. What would follow the last event of a decision that is not final cannot be shown
missing: such a bundle proves what it holds, not that the decision's life ends there.

### 10. The review policy, re-proved

For each decision (canonical `decision_id`), replay its events of the kinds `decision.proposed`,
`decision.claimed`, `decision.released`, `review.recorded`, `decision.finalized` and
`decision.expired`, reading everything from the canonical bytes. In a filtered bundle, only a
decision is replayed when each of its events has an integer `data.decision_version` and none of
the signs of a missing event of section 9 applies to it (whatever the filters): the bundle then
holds its whole life. Let
`state` be the last `data.decision_state`, the proposal's `data.required_approvals`,
`data.rejections_to_close`, `data.deadline`, `data.suggestion.output` and its actor `id` (the
proposer); each `review.recorded` with `data.verdict` APPROVE or AMEND (REJECT) by an actor
whose `type` is not `system` adds its actor `id` to the approvers (rejecters); an AMEND's
`data.amended_output` is the last amendment; the last `decision.finalized` gives the outcome
(`data.outcome`). The problems, in this order:
`approver_is_proposer` (a verdict by the proposer), `verdict_after_deadline` (a verdict whose
`occurred_at` is at or after the deadline), `verdict_role_not_eligible` (a verdict whose
`data.reviewer_roles` share nothing with its `data.eligible_roles`), `policy_quorum_not_met`
(a final state — APPROVED, AMENDED, REJECTED, EXPIRED — with other than one proposal; APPROVED
or AMENDED with fewer distinct approvers than max(required, 1); REJECTED with fewer distinct
rejecters than max(rejections_to_close, 1)), `expired_with_outcome`, `outcome_not_derived`
(APPROVED or AMENDED without a finalized event, or whose outcome is not the last amendment —
the suggestion when there is none —, or AMENDED without an amendment or APPROVED with one;
REJECTED with an outcome).

### 11. `manifest.json`

An object: `format` (`aval-bundle/2`), `tenant`, `scope` (`tenant` or `filtered`), `filters`
(the export's filters, `{{}}` for a whole tenant), `created_at`, `events` (the number of lines of
`events.jsonl`), `checkpoints` (of `checkpoints.jsonl`), `key_id` (the fingerprint of
`public_key.txt`'s key, section 1) and `sha256` (the hex SHA-256 of each of `events.jsonl`,
`checkpoints.jsonl`, `public_key.txt` and `README.md`). Nothing in it is trusted: recompute
each field from the files. A file whose SHA-256 differs: `file_changed`. Another field that
differs from what the files give: `manifest_mismatch` — `tenant` must be the `tenant` of every
event line and checkpoint line; `key_id` must also be every valid note's `key_id`; a `tenant`
scope has no filter; in a filtered bundle, `filters.decision_id` and `filters.kind` must equal
every event's, `filters.since` (inclusive) and `filters.until` (exclusive) bound every event's
`occurred_at`. `created_at` and the other filters are the exporter's word. No manifest:
`manifest_missing`.

### 12. Witness policy (when the verifier is given witnesses' keys)

A verifier may be given witnesses' verifier key strings (as in section 1, but of type 0x04:
`<name>+<key hash>+<base64(0x04 || the 32 key bytes)>`, the key hash computed with 0x04) and a
quorum K (1 when not given; `aval audit verify --offline . --witness KEY … --witness-quorum
K`). For each valid checkpoint (section 7), a signature line of its `note` whose key name and
key hash are those of a given witness key is that witness's cosignature: its bytes after the
key hash are 72, an 8-byte big-endian timestamp t below 2^63 then the Ed25519 signature, under
the witness key, of `cosignature/v1\\ntime <t in decimal>\\n` followed by the note's text
(the bytes of `signed_note`). One that is not so: `bad_cosignature`. A checkpoint is witnessed
when at least K distinct given keys cosign it so. The valid checkpoint of the largest
`tree_size` must be witnessed; otherwise (or with no valid checkpoint) `witness_quorum_not_met`.

### 13. Verdict

The bundle verifies when no problem is found. Problem names: `manifest_missing`,
`manifest_mismatch`, `file_changed`, `checkpoint_malformed`, `bad_signature`,
`readable_field_mismatch`, `sequence_gap`, `broken_link`, `hash_mismatch`, `rewritten_history`,
`truncated`, `unsigned_events`, `sequence_order`, `proof_checkpoint_missing`,
`bad_inclusion_proof`, `decision_events_missing`, the policy's six names (section 10), and with
witnesses' keys
`bad_cosignature` and `witness_quorum_not_met` (section 12).
"""


def readme(
    *,
    tenant: str,
    created_at: str,
    scope: str,
    filters: dict[str, Any],
    events: int,
    checkpoints: int,
    key_id: str,
    public_key: str,
    unsigned: int,
    proof_tree_size: int,
) -> str:
    """The README of a bundle.

    Args:
        tenant: The bundle's tenant.
        created_at: When it was exported.
        scope: `tenant` or `filtered`.
        filters: The filters that selected its events (empty for a whole tenant).
        events: How many events it holds.
        checkpoints: How many checkpoints it carries.
        key_id: The fingerprint of the signing key.
        public_key: The signing key (hex).
        unsigned: How many of its events no checkpoint covers.
        proof_tree_size: The tree size its inclusion proofs lead to (0: none).

    Returns:
        The text (Markdown).
    """
    whole = scope == "tenant"
    proof_line = (
        "Chaque événement porte sa preuve d'inclusion dans l'arbre signé de taille "
        f"{proof_tree_size} / each event carries its inclusion proof in the signed tree of "
        f"size {proof_tree_size}."
        if proof_tree_size
        else ""
    )
    unsigned_line = (
        f"**Attention : {unsigned} événement(s) ne sont couverts par aucun point de contrôle "
        f"signé / warning: {unsigned} event(s) are covered by no signed checkpoint.**"
        if unsigned
        else "Tous les événements sont couverts par un point de contrôle signé / every event is "
        "covered by a signed checkpoint."
    )
    head = _HEAD.format(
        tenant=tenant,
        created_at=created_at,
        scope=scope,
        scope_fr="toute la piste d'audit" if whole else "les événements choisis par des filtres",
        scope_en="the whole audit trail" if whole else "the events some filters selected",
        filters=json.dumps(filters, ensure_ascii=False, sort_keys=True),
        events=events,
        checkpoints=checkpoints,
        key_id=key_id or "—",
        proof_line=proof_line,
        unsigned_line=unsigned_line,
    )
    del public_key  # in public_key.txt; the README names its fingerprint only
    return head + "\n" + _RULES.format()
