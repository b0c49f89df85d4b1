"""The one base class of errors the user can act on; the CLI prints them as one line and exits 2."""


class UserError(Exception):
    """Bad input, or a failure outside bucketguard: the message says what and where, in one line.

    `detail` (a failing program's own traceback, for example) is printed only with `--debug`.
    """

    detail: str = ""
