"""AI systems behind the gateway, through the real server process (issue 4): a gRPC Advisor and
an OpenAI-compatible server on loopback, the registry's pinned and shadow versions, the kill
switch across two replicas, high-risk types, and the flags reviewers see when the AI fails.

The AI only ever reaches a citizen through a human (I1): every test checks that a suggestion is
released only after an approval, and that a shadow's never is.
"""
