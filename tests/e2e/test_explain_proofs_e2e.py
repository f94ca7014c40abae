"""An inspector's explanation proves each checkpointed event against the signed root."""

from __future__ import annotations

from aval.verifier import merkle

from .conftest import ClientOf
from .helpers import propose_kwargs


def test_inspector_explanation_proves_each_checkpointed_event(client_of: ClientOf) -> None:
    decision = client_of("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    client_of("sup-a2").decide(decision.id, verdict="approve")
    checkpoint = client_of("insp-a").create_checkpoint()
    explained = client_of("insp-a").explain_decision(decision.id, audience="inspector")
    assert [p.event.seq for p in explained.proofs] == [e.seq for e in explained.events]
    assert len(explained.proofs) >= 3
    root = bytes.fromhex(checkpoint.root_hash)
    for proof in explained.proofs:
        assert proof.checkpoint.tree_size == checkpoint.tree_size
        leaf = merkle.leaf_hash(proof.event.canonical)
        assert merkle.verify_inclusion(
            leaf, proof.leaf_index, checkpoint.tree_size, list(proof.audit_path), root
        )
        forged = merkle.leaf_hash(proof.event.canonical + b" ")
        assert not merkle.verify_inclusion(
            forged, proof.leaf_index, checkpoint.tree_size, list(proof.audit_path), root
        )
    assert f"{explained.events[0].seq}" in explained.text


def test_citizen_explanation_carries_no_proofs(client_of: ClientOf) -> None:
    decision = client_of("app-a").propose(**propose_kwargs("voirie.signalement")).decision
    client_of("insp-a").create_checkpoint()
    explained = client_of("insp-a").explain_decision(decision.id, audience="citizen")
    assert list(explained.proofs) == []
