"""Errors of the alerts layer. ``loc`` points into settings.yaml (e.g. ("topics", 0, "all", 1))."""

from __future__ import annotations


class AlertsError(Exception):
    pass


class RuleError(AlertsError):
    def __init__(self, loc: tuple, message: str):
        super().__init__(message)
        self.loc = loc
        self.message = message


class RuleErrors(AlertsError):
    """Every mistake found while compiling the rules, reported together."""

    def __init__(self, errors: list[RuleError]):
        super().__init__("; ".join(e.message for e in errors))
        self.errors = errors


class DeliveryError(AlertsError):
    """A message could not be handed to the mail server or written to the outbox."""
