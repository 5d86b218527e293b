"""gunicorn settings read from the working directory: an access log that shows routes, never tokens.

The Procfile's `web:` line keeps every other setting on its command line. The app's own log lines are
redacted by the same rule (app/logs.py), installed by the app factory.
"""
from gunicorn.glogging import Logger

from app.logs import redact


class RedactingLogger(Logger):
    """The request line, path, query and Referer are logged with their token-like parts replaced."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for name in ("r", "U", "q", "f", "{referer}i"):
            if name in atoms:
                atoms[name] = redact(atoms[name])
        return atoms


logger_class = RedactingLogger
