"""The HTTP/JSON door: the Connect protocol's JSON form of every RPC of Aval's services, for
clients without a gRPC stack. A client of the gRPC server, never a second implementation."""
