"""What a tenant administrator can make the gateway send, and to whom (issue 10, items 1, 4, 5),
through the real server process.

The operator's AI egress file (AVAL_AI_EGRESS_FILE) names, per tenant, the secrets an AI system
may use and the endpoints it may reach. A tenant administrator chooses among those, never an
environment variable or an address of their own (I5); a change of what a pinned or policy-named
system answers needs a second administrator (four eyes, R18); and what an AI backend says when
it fails never reaches applications, reviewers or the trail, beyond a status and a fixed reason.
"""
