"""The Python SDK: clients of the gateway, the calls they make, and typed errors; it never
imports the command line."""
