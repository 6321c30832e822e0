"""The one exception type for bad input, and the warning for degenerate data."""


class SkewcheckInputError(ValueError):
    """Bad input: a missing file, an absent column, incompatible types.

    The message is one line that names the input (file or argument) and the column,
    says what was expected and what arrived, and how to fix it. The CLI prints it
    and exits with code 2.
    """


class SkewcheckWarning(UserWarning):
    """Degenerate data (a constant or all-null feature, an empty side): the result is
    still defined, but a statistic may be NaN or a test may have been skipped."""
