"""Aval: a gateway that keeps humans in charge of AI decisions in public administration."""

__version__ = "0.1.0"
