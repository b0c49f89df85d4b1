"""The one base class of errors the user can act on; the CLI prints them as one line and exits 2."""


class UserError(Exception):
    """Bad input, or a failure outside bucketguard: the message says what and where, in one line.

    `detail` (a failing program's own traceback, for example) is printed only with `--debug`.
    """

    detail: str = ""


def program_error(exc: BaseException) -> str:
    """A Pulumi program's failure in one line: the message alone for the errors a program raises to be read
    (pulumi.RunError, which the Pulumi CLI shows without its type, or a UserError), else with its type."""
    import sys

    pulumi = sys.modules.get("pulumi")  # loaded: it ran the program
    readable = (UserError, *((pulumi.RunError,) if pulumi is not None else ()))
    return str(exc) if isinstance(exc, readable) else f"{type(exc).__name__}: {exc}"
