"""`aval witness`: a C2SP tlog witness another authority runs to cosign Aval's checkpoints."""
