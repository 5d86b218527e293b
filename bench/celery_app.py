"""The Celery side of the side-by-side run: the same job (jobs.mail.send in the Flask app context).

Shaped as Flask's "Background Tasks with Celery" page advises: the app is created once, at import, before
prefork forks its children; each task runs in a fresh app context. Run from bench/.venv-celery only.
"""
import os

from celery import Celery

from app import create_app
from jobs import mail

flask_app = create_app()
celery = Celery("bench", broker=os.environ["REDIS_URL"])
celery.conf.update(task_default_queue="mail", task_ignore_result=True)  # no result backend: Celery's default


@celery.task(name="bench.send")
def send(outbox_id):
    with flask_app.app_context():
        return mail.send(outbox_id)
