"""`flask agents ...` (contract: enrollment-key, revoke) and `flask remote ...` (keys)."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from core.errors import DomainError
from core.scope import unrestricted
from extensions import db

agents_cli = AppGroup("agents", help="Monitoring agents and their enrollment keys.")
remote_cli = AppGroup("remote", help="Remote checks: encryption keys of the stored SSH keys.")


@agents_cli.command("enrollment-key")
@click.argument("slug")
def enrollment_key(slug: str):
    """Create the council SLUG's enrollment key (it replaces the previous one); the key is
    printed alone on the last line, once."""
    from agreements import services as councils
    from remote import agents

    try:
        council = councils.get_council_by_slug(slug)
    except DomainError:
        raise click.ClickException(f"no council with slug {slug!r}") from None
    key = agents.create_enrollment_key(council, actor=None)
    click.echo(f"enrollment key for {council.name} ({council.slug}); the previous key no longer works. "
               "Store it now, it is not shown again:", err=True)
    click.echo(key)


@agents_cli.command("revoke")
@click.argument("agent_id", type=int)
def revoke(agent_id: int):
    """Revoke agent AGENT_ID: its token stops working at once."""
    from remote import agents

    try:
        agent = agents.get_agent(agent_id)
    except DomainError:
        raise click.ClickException(f"no agent {agent_id}") from None
    already = agent.revoked_at is not None
    agents.revoke_agent(agent, actor=None)
    click.echo(f"agent {agent.id} ({agent.hostname}) {'was already revoked' if already else 'revoked'}")


@agents_cli.command("list")
@click.option("--council", "slug", help="Only this council's agents.")
def list_agents(slug: str | None):
    """Agents with their status and last report."""
    from agreements import services as councils
    from remote import agents
    from remote.models import Agent

    council_id = councils.get_council_by_slug(slug).id if slug else None
    for agent in db.session.scalars(agents.agents_query(council_id=council_id).order_by(Agent.id)):
        seen = agent.last_report_at.isoformat(timespec="seconds") if agent.last_report_at else "never"
        click.echo(f"{agent.id:>6}  {agents.agent_status(agent):<8} {agent.asset.council.slug:<20} "
                   f"{agent.hostname:<30} last report {seen}")


@remote_cli.command("new-encryption-key")
def new_encryption_key():
    """Print a new Fernet key for SSH_KEY_ENCRYPTION_KEYS (put it first to rotate)."""
    from remote import crypto

    click.echo(crypto.new_key())


@remote_cli.command("rotate-keys")
def rotate_keys():
    """Re-encrypt every stored SSH key and passphrase with the first configured key."""
    from core.db import write_transaction
    from remote import crypto
    from remote.models import SshSettings

    done = 0
    try:
        with unrestricted(), write_transaction():
            for settings in db.session.scalars(select(SshSettings)):
                if settings.key_ciphertext:
                    settings.key_ciphertext = crypto.rotate(settings.key_ciphertext)
                    done += 1
                if settings.passphrase_ciphertext:
                    settings.passphrase_ciphertext = crypto.rotate(settings.passphrase_ciphertext)
    except (crypto.CryptoNotConfigured, crypto.DecryptionFailed) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{done} key(s) re-encrypted with the first key of SSH_KEY_ENCRYPTION_KEYS; "
               "older keys can now be removed from the setting")
