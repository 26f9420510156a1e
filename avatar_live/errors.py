"""The one exception type the command line turns into a one-line message."""


class AvatarLiveError(Exception):
    """A problem the user can act on; its message is shown as a single line, no traceback."""
