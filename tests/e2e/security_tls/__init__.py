"""TLS and client certificates through the real server (issue 13, item 2): a network attacker
reads no token, an unauthenticated peer gets no further than the handshake or UNAUTHENTICATED,
and static tokens expire and are revoked."""
