"""Outcome webhooks: signed POSTs of final decisions to their application, from an outbox."""
