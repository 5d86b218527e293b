"""`flask mail status` and `flask mail retry ID|--failed`: the outbox's unsent rows, seen and put back."""
import click
from flask.cli import AppGroup
from sqlalchemy import select

from app import outbox
from app.extensions import db
from app.models import OutboxMail

mail_cli = AppGroup("mail", help="Inspect and retry outgoing mail.")


@mail_cli.command("status")
def status():
    """List mail not sent yet (pending or being sent) and mail that failed."""
    rows = db.session.scalars(select(OutboxMail).where(OutboxMail.status.not_in([OutboxMail.SENT,
                                                                                   OutboxMail.CANCELLED]))
                              .order_by(OutboxMail.status, OutboxMail.id)).all()
    if not rows:
        click.echo("no pending or failed mail")
        return
    click.echo(f"{'id':>6}  {'status':<8} {'tries':>5}  {'next attempt (UTC)':<19}  {'kind':<18} "
               "recipient / last error")
    for row in rows:
        next_at = row.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S") if row.status == OutboxMail.PENDING else "-"
        click.echo(f"{row.id:>6}  {row.status:<8} {row.attempts:>5}  {next_at:<19}  {row.kind:<18} {row.recipient}")
        if row.last_error:
            click.echo(f"{'':>6}  {row.last_error}")


@mail_cli.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--failed", "all_failed", is_flag=True, help="Retry every failed mail.")
def retry(ids, all_failed):
    """Put mail back as pending with a fresh retry budget, and wake the worker for it."""
    if bool(ids) == all_failed:
        raise click.UsageError("give mail ids or --failed (not both)")
    queued, missing = outbox.put_back(ids)
    click.echo(f"{len(queued)} mail(s) put back: {', '.join(map(str, queued)) or 'none'}")
    if missing:
        raise click.ClickException(f"no unsent mail with id {', '.join(map(str, missing))}")
