"""The life of a decision: proposals (with the AI's advice), claims, verdicts, reads, deadlines."""
