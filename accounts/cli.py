"""`flask users ...` and `flask tokens ...` (see docs/api-contract.md, "Command line")."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from accounts import services
from agreements.models import Council
from core.errors import DomainError
from extensions import db

users_cli = AppGroup("users", help="Manage user accounts.")
tokens_cli = AppGroup("tokens", help="Manage personal API tokens.")


def _fail(exc: DomainError):
    details = "; ".join(f"{k}: {v}" for k, v in exc.fields.items())
    raise click.ClickException(f"{exc.message}" + (f" ({details})" if details else ""))


@users_cli.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(["admin", "manager", "technician", "clerk"]))
@click.option("--council", "council_slug", help="Slug of the clerk's council.")
@click.option("--name", default="", help="Display name.")
@click.option("--password", help="Prompted for when not given.")
@click.option("--language", type=click.Choice(["ca", "es", "en"]), default=None)
def users_create(email, role, council_slug, name, password, language):
    """Create a user. A clerk needs --council."""
    council_id = None
    if council_slug:
        council = db.session.scalar(select(Council).where(Council.slug == council_slug))
        if council is None:
            raise click.ClickException(f"no council with slug {council_slug!r}")
        council_id = council.id
    if role == "clerk" and council_id is None:
        raise click.ClickException("a clerk needs --council SLUG")
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = services.create_user(email=email, name=name, role=role, password=password,
                                    council_id=council_id, preferred_language=language, actor=None)
    except DomainError as exc:
        _fail(exc)
    click.echo(f"created {user.email} ({user.role})")


@tokens_cli.command("create")
@click.argument("email")
@click.option("--name", default="cli", help="What the token is for.")
def tokens_create(email, name):
    """Create a personal token; it is printed alone on the last line, once."""
    user = services.get_user_by_email(email)
    if user is None or not user.active:
        raise click.ClickException(f"no active user {email!r}")
    _token, plaintext = services.create_token(user, name, actor=None)
    click.echo(f"token for {user.email} ({user.role}); store it now, it is not shown again:", err=True)
    click.echo(plaintext)


@tokens_cli.command("revoke")
@click.argument("email")
def tokens_revoke(email):
    """Revoke every personal token of a user."""
    user = services.get_user_by_email(email)
    if user is None:
        raise click.ClickException(f"no user {email!r}")
    n = services.revoke_all_tokens(user, actor=None)
    click.echo(f"revoked {n} token(s) of {user.email}")
