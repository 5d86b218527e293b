"""gunicorn settings read from the working directory: an access log that shows routes, never tokens.

The Procfile's `web:` line keeps every other setting on its command line.
"""
import re

from gunicorn.glogging import Logger

# A run of 20+ URL-safe characters: a mailed token (verify, reset), a captcha id, any future one.
SECRET = re.compile(r"[A-Za-z0-9_.~-]{20,}")


def redact(text):
    return SECRET.sub("<token>", text) if text else text


class RedactingLogger(Logger):
    """The request line, path, query and Referer are logged with their token-like parts replaced."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name in ("r", "U", "q", "f", "{referer}i"):
            if name in atoms:
                atoms[name] = redact(atoms[name])
        return atoms


logger_class = RedactingLogger
