"""The gRPC edge: admission of calls, servicers (authenticate, parse, call one use case, map
errors), and the conversion of records to messages."""
