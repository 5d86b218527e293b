"""The naive set-up's job module: it builds the app at import, as tutorials do (microblog's app/tasks.py).

Run by the default forking `rq worker`, which imports this module in every work horse, so every mail
pays for importing Flask, SQLAlchemy and the app and for a new SMTP connection. The bench's baseline.
"""
from app import create_app
from jobs import mail

app = create_app()


def send(outbox_id):
    with app.app_context():
        return mail.send(outbox_id)
