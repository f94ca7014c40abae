"""The AI backends against real servers on loopback: an OpenAI-compatible HTTP server
(tests/openai_server.py) and an Advisor over gRPC. No database is needed.

An AI failure never raises: it is an outcome (UNAVAILABLE or INVALID_OUTPUT) with a detail
for the reviewers, so that the proposal still goes to review (issue 4, I1).
"""
