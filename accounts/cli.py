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


@users_cli.command("new-totp-key")
def new_totp_key():
    """Print a new Fernet key for TOTP_ENCRYPTION_KEYS (put it first to rotate)."""
    from core.crypto import new_key

    click.echo(new_key())


@users_cli.command("rotate-totp-keys")
def rotate_totp_keys():
    """Re-encrypt every two-step sign-in seed with the first key of TOTP_ENCRYPTION_KEYS."""
    from accounts import totp
    from core.crypto import CryptoNotConfigured, DecryptionFailed
    from core.db import write_transaction

    try:
        with write_transaction():
            done = totp.rotate_all()
    except (CryptoNotConfigured, DecryptionFailed) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{done} seed(s) re-encrypted with the first key of TOTP_ENCRYPTION_KEYS; "
               "older keys can now be removed from the setting")


@tokens_cli.command("create")
@click.argument("email")
@click.option("--name", default="cli", help="What the token is for.")
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="Days until it expires (default API_TOKEN_DEFAULT_DAYS, 365).")
def tokens_create(email, name, days):
    """Create a personal token; it is printed alone on the last line, once."""
    user = services.get_user_by_email(email)
    if user is None or not user.active:
        raise click.ClickException(f"no active user {email!r}")
    try:
        token, plaintext = services.create_token(user, name, actor=None, days=days)
    except DomainError as exc:
        _fail(exc)
    click.echo(f"token for {user.email} ({user.role}), expires {token.expires_at:%Y-%m-%d %H:%M} UTC; "
               "store it now, it is not shown again:", err=True)
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
