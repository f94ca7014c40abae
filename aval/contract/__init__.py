"""What the gateway and the command line both write in the contract's messages from the
verifier's results, so that a report verified online and one verified offline read the same."""

from aval.contract.reports import verification_report

__all__ = ["verification_report"]
