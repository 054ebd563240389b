"""The one base class for errors a user caused and can fix.

The CLI prints these as a single line (``error: ...``) and exits with status 2; any other
exception is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Bad input, a missing file, a refused operation: the message says which and why."""
