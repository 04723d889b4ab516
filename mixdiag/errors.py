"""The one exception type that reaches users as a one-line message.

Library code raises :class:`MixdiagError` (or a subclass) for every problem a
user can fix: a wrong option, a missing file, a malformed dataset. The CLI turns
it into ``Error: <message>`` on stderr and exit code 1 without a traceback.
Anything else that escapes is a bug and keeps its traceback.
"""


class MixdiagError(Exception):
    """A problem with the user's input; the message names the problem and the fix."""


class DataError(MixdiagError):
    """A dataset is missing, malformed or does not match its published layout."""


class CheckpointError(MixdiagError):
    """A checkpoint is missing, truncated, foreign or unsafe to load."""
