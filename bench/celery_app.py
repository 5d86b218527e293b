"""The Celery side of the side-by-side run, shaped as Flask's "Background Tasks with Celery" page advises.

Two tasks: `bench.send` is our job (jobs.mail.send: claim the outbox row, render, send, record), and
`bench.tutorial_send` is the tutorial's task: render the verification mail from the arguments the request
passed and send it with Flask-Mail's own `mail.send` (a connection per mail), no database. The app is
created once, at import, before prefork forks its children. Run from bench/.venv-celery only.
"""
import os

from celery import Celery
from flask import render_template
from flask_mail import Message

from app import create_app
from app.extensions import mailer as flask_mail
from jobs import mail

flask_app = create_app()
celery = Celery("bench", broker=os.environ["REDIS_URL"])
celery.conf.update(task_default_queue="mail", task_ignore_result=True)  # no result backend: Celery's default


@celery.task(name="bench.send")
def send(outbox_id):
    with flask_app.app_context():
        return mail.send(outbox_id)


@celery.task(name="bench.tutorial_send")
def tutorial_send(recipient, username, link, code):
    with flask_app.app_context():
        context = {"user": {"username": username}, "link": link, "code": code, "hours": 48}
        flask_mail.send(Message("Confirm your email address", recipients=[recipient],
                                body=render_template("email/verify.txt", **context),
                                html=render_template("email/verify.html", **context)))
