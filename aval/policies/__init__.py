"""Policy as code: review policies per tenant and decision type, presets, and grants (Casbin)."""

from aval.policies.loading import (
    PolicyBook,
    PolicyError,
    load_policy_dir,
    load_policy_text,
    load_presets,
)
from aval.policies.review import ReviewPolicy

__all__ = [
    "PolicyBook",
    "PolicyError",
    "ReviewPolicy",
    "load_policy_dir",
    "load_policy_text",
    "load_presets",
]
