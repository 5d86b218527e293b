"""Benchmarks of the real stack (Redis, SMTP sink, gunicorn, the Procfile's worker): `python -m bench`."""
