"""Outcome webhooks through the real server process (issue 13, item 5): an application the
operator gave a webhook learns each final outcome of its decisions by a signed POST, at least
once, from an outbox written with the final event; nobody else's outcomes are sent anywhere.
"""
