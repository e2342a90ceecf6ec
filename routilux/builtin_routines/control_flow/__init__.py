"""Builtin routines for control flow: ConditionalRouter."""

from routilux.builtin_routines.control_flow.conditional_router import ConditionalRouter

__all__ = ["ConditionalRouter"]
