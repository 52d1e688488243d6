"""The one exception type that reaches the user as a single line."""


class IgnityError(Exception):
    """A problem the user can fix: printed as one line, never a traceback.

    `status` is the exit status Ignity ends with when this error stops it.
    """

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status
