"""The process: the gRPC server and its workers, the commands that start it, the demo."""
