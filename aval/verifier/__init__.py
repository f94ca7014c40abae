"""Everything needed to verify a trail offline: standard library and `cryptography` only."""
