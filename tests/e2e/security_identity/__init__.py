"""Identity through the real server: unambiguous principals, tenants nobody can enumerate, and
idempotency keys that belong to the caller who chose them (issue 10, items 2, 13 and 15; I4, I5).
"""
