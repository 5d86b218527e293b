"""Job functions run by the RQ worker inside the Flask app context (see jobs/worker.py)."""
