"""Hostile input across the whole contract, through the real server (issue 10): a NUL in any
string field (I6), JSON payloads over the limit or outside the decision type's output schema,
claims renewed without end, server text full of terminal escapes printed by the CLI, and reasons
with nothing visible in them."""
