"""The one exception type for bad input, and the warning for degenerate data."""

from __future__ import annotations

import re
from collections.abc import Callable

# How a message marks a parameter name: `name`, so that the CLI can call it by its flag.
_PARAMETER = re.compile(r"`(\w+)`")


class SkewcheckInputError(ValueError):
    """Bad input: a missing file, an absent column, incompatible types, a bad argument.

    The message is one line that names the input (file or argument) and the column,
    says what was expected and what arrived, and how to fix it. The CLI prints it
    and exits with code 2.

    A message about an argument marks each parameter it names in backticks (`abs_tol`):
    ``str()`` shows the Python name, `worded` lets the CLI show its flag instead, and
    `parameter` holds the first one named.
    """

    def __init__(self, message: str) -> None:
        self.template = message
        names = _PARAMETER.findall(message)
        self.parameter: str | None = names[0] if names else None
        super().__init__(self.worded(lambda name: name))

    def worded(self, name_of: Callable[[str], str]) -> str:
        """The message with every marked parameter called `name_of(parameter)`."""
        return _PARAMETER.sub(lambda match: name_of(match.group(1)), self.template)

    def __reduce__(self):  # pickles (e.g. across processes) as its template
        return type(self), (self.template,)


class SkewcheckWarning(UserWarning):
    """Degenerate data (a constant or all-null feature, an empty side): the result is
    still defined, but a statistic may be NaN or a test may have been skipped."""
