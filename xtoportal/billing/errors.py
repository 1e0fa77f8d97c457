"""Refusals of the billing engine, translated to HTTP by the API and to messages by the portal."""


class BillingError(Exception):
    """A request the billing rules refuse; `param` names the offending input when there is one."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.message, self.param = message, param


class StateConflict(BillingError):
    """The object is not in a state that allows this (resuming what is not paused…)."""
