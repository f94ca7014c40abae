"""The Admin service against the real server process: registry, pins, stops, evaluation and
the `aval admin` commands."""
