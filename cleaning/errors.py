"""The error the cleaning stage raises for anything a user can fix (no weak labels, bad input)."""

from admedtagger.warehouse import UserError


class CleaningError(UserError):
    pass
