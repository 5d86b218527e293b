"""Operator commands under `flask --app wsgi ...`; each concern keeps its commands in its own module."""


def init_app(app):
    from app.cli import backup, demo, jobs, outbox, users

    app.cli.add_command(jobs.jobs_cli)
    app.cli.add_command(jobs.schedule_cli)
    app.cli.add_command(backup.backup_cli)
    app.cli.add_command(users.create_admin)
    app.cli.add_command(outbox.mail_cli)
    app.cli.add_command(demo.demo_data)
