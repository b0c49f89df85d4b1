"""urllib3's log records without the query of the URLs they name: a feed's API key, a presigned URL's
credentials and signature. Its own module: the scanner's download pool installs it without importing the
rule feeds' machinery."""

from __future__ import annotations

import logging
import re

__all__ = ["hide_url_secrets_from_urllib3_logs"]

_URL_QUERY = re.compile(r"(?<=\?)[^\s'\"]+")


class _UrlSecretsFilter(logging.Filter):
    """urllib3 logs request targets with their query (at DEBUG, and at WARNING when it retries or cannot
    parse a response's headers): a feed's API key, a presigned URL's credentials and signature."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = _URL_QUERY.sub("", record.getMessage()), None
        return True


def hide_url_secrets_from_urllib3_logs() -> None:
    """Queries cut from every urllib3 log record, whatever handler and level the process has (the Lambda
    runtime's root logger, a caller's basicConfig). Idempotent."""
    for name in list(logging.root.manager.loggerDict):
        if name == "urllib3" or name.startswith("urllib3."):
            logger = logging.getLogger(name)
            if not any(isinstance(f, _UrlSecretsFilter) for f in logger.filters):
                logger.addFilter(_UrlSecretsFilter())
