"""AI systems: their registry and administration, the kill switch, egress rules, the backends
that call them, and the demo's advisor."""
