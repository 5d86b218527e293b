"""`flask backup restore FILE`: put a backup written by the backup job back into the configured database."""
import click
from flask.cli import AppGroup

from jobs.backup import BackupError, restore

backup_cli = AppGroup("backup", help="Restore database backups.")


@backup_cli.command("restore")
@click.argument("path", metavar="FILE", type=click.Path(dir_okay=False))
@click.confirmation_option(prompt="Replace the whole database with this backup?")
def backup_restore(path):
    """Replace the configured database's contents with the backup FILE (checked first)."""
    try:
        restore(path)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"restored {path}")
