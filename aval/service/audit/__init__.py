"""The inspectors' side: queries, exports, explanations, verification, checkpoints, proofs,
statistics."""
