"""The transport edge against a hostile peer (issue 10, items 3, 7, 8 and 9).

A request body is read only for a caller with a valid token, and only up to what the largest
legitimate request needs; a body that cannot be decoded is refused plainly on every RPC; unread
streams cannot starve the server, and health follows the database; a refusal never echoes more
of the caller's input than a default client can read.
"""
