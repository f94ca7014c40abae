"""Thin gRPC servicers: authenticate, authorise, validate, call one use case, translate errors."""
