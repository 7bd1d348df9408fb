"""Errors that name the input and say what is wrong with it."""


class TradeMLError(Exception):
    """Base class for trademl errors."""


class InputError(TradeMLError, ValueError):
    """An input (file, URL, folder, row) is unreadable or has the wrong shape."""

    def __init__(self, source: str, problem: str, hint: str | None = None):
        self.source = source
        self.problem = problem
        message = f"{source}: {problem}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)
