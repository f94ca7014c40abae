"""The gRPC server of Aval: servicers, use cases, identity, authorisation, settings."""
