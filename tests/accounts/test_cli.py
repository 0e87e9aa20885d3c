"""The command line of docs/api-contract.md: `users create`, `tokens create|revoke`, `seed-demo`."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from accounts import services
from accounts.demo import DEMO_PASSWORD
from accounts.models import ApiToken, User
from agreements.models import Council

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(app, db):
    runner = app.test_cli_runner()

    def invoke(*args, input=None):
        db.session.commit()  # end the test's snapshot before the command writes (SQLite)
        result = runner.invoke(args=list(args), input=input)
        db.session.expire_all()
        assert "Traceback" not in result.output, result.output
        return result

    return invoke


def last_line(text: str) -> str:
    return text.rstrip("\n").split("\n")[-1]


# --- tokens ---------------------------------------------------------------------------

def test_tokens_create_prints_the_token_alone_on_the_last_line(cli, world, app, db):
    result = cli("tokens", "create", world.technician.email)
    assert result.exit_code == 0, result.output
    token = last_line(result.stdout)
    assert token == token.strip() and " " not in token and len(token) > 30
    resp = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200 and resp.json["email"] == world.technician.email
    assert resp.json["role"] == "technician"


def test_only_a_hash_of_the_token_is_stored(cli, world, db):
    token = last_line(cli("tokens", "create", world.manager.email).stdout)
    (row,) = db.session.execute(select(ApiToken.__table__).where(ApiToken.user_id == world.manager.id)).all()
    stored = " ".join(str(v) for v in row)
    # Neither the token nor any long piece of it (its random part) is in the row.
    pieces = {token[i:i + 16] for i in range(0, len(token) - 16)}
    assert not any(piece in stored for piece in pieces)


def test_tokens_create_for_an_unknown_or_deactivated_user_fails_cleanly(cli, world):
    result = cli("tokens", "create", "nobody@test.example.org")
    assert result.exit_code != 0 and "nobody@test.example.org" in result.output
    services.set_active(world.technician, False, actor=world.admin)
    assert cli("tokens", "create", world.technician.email).exit_code != 0
    assert services.get_user_by_email(world.technician.email) is not None


def test_tokens_revoke_revokes_every_token_of_the_user(cli, world, app):
    tokens = [last_line(cli("tokens", "create", world.clerk_a.email).stdout) for _ in range(2)]
    _t, other = services.create_token(world.clerk_b, "other", actor=None)
    client = app.test_client()
    for token in tokens:
        assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    result = cli("tokens", "revoke", world.clerk_a.email.upper())
    assert result.exit_code == 0, result.output
    for token in tokens:
        resp = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401 and resp.json["error"]["code"] == "unauthorized"
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {other}"}).status_code == 200


# --- users ----------------------------------------------------------------------------

def test_users_create_clerk_without_council_fails_cleanly(cli, world):
    result = cli("users", "create", "new.clerk@test.example.org", "--role", "clerk", "--password", "long enough pw")
    assert result.exit_code == 1
    assert "--council" in result.output
    assert services.get_user_by_email("new.clerk@test.example.org") is None


def test_users_create_clerk_with_council(cli, world):
    result = cli("users", "create", "New.Clerk@Test.example.org", "--role", "clerk", "--council", "talamanca",
                 "--name", "Secretaria Talamanca", "--password", "long enough pw", "--language", "es")
    assert result.exit_code == 0, result.output
    user = services.get_user_by_email("new.clerk@test.example.org")
    assert (user.role, user.council_id, user.name, user.preferred_language) == (
        "clerk", world.council_b.id, "Secretaria Talamanca", "es")
    assert services.authenticate("new.clerk@test.example.org", "long enough pw") is not None


@pytest.mark.parametrize("args", [
    ["--role", "clerk", "--council", "no-such-council"],
    ["--role", "technician", "--council", "mura"],
    ["--role", "wizard"],
    ["--role", "technician", "--password", "short"],
])
def test_users_create_refusals_are_clean(cli, world, args):
    if "--password" not in args:
        args = [*args, "--password", "long enough pw"]
    result = cli("users", "create", "refused@test.example.org", *args)
    assert result.exit_code != 0
    assert result.output.strip()
    assert services.get_user_by_email("refused@test.example.org") is None


def test_users_create_duplicate_email_fails_cleanly(cli, world):
    result = cli("users", "create", world.manager.email.upper(), "--role", "manager", "--password", "long enough pw")
    assert result.exit_code == 1 and "Error" in result.output


def test_users_create_prompts_for_the_password(cli, world):
    result = cli("users", "create", "prompted@test.example.org", "--role", "manager",
                 input="typed at the prompt\ntyped at the prompt\n")
    assert result.exit_code == 0, result.output
    assert "Password" in result.output
    assert "typed at the prompt" not in result.output  # hidden input
    assert services.authenticate("prompted@test.example.org", "typed at the prompt") is not None


# --- seed-demo ------------------------------------------------------------------------

def _counts(db):
    return (db.session.scalar(select(func.count()).select_from(Council)),
            db.session.scalar(select(func.count()).select_from(User)))


def test_seed_demo_loads_the_bages_councils_and_every_role(cli, db):
    result = cli("seed-demo", "--if-empty")  # an empty database: --if-empty loads it
    assert result.exit_code == 0, result.output
    with (ROOT / "data" / "bages_councils.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 18
    councils = {c.name: c for c in db.session.scalars(select(Council))}
    assert set(councils) == {r["name"] for r in rows}
    for row in rows:
        assert councils[row["name"]].population == int(row["population"])
    roles = {u.role for u in db.session.scalars(select(User))}
    assert roles == {"admin", "manager", "technician", "clerk"}
    # Every council has its clerk, and the printed logins work with the printed password.
    clerks = db.session.scalars(select(User).where(User.role == "clerk")).all()
    assert {c.council_id for c in clerks} == {c.id for c in councils.values()}
    assert DEMO_PASSWORD in result.output
    for role in ("admin", "manager", "technician", "clerk"):
        line = next(line for line in result.output.splitlines() if line.strip().startswith(role))
        email = line.split()[1]
        user = services.authenticate(email, DEMO_PASSWORD)
        assert user is not None and user.role == role

    # Idempotent: running it again adds nothing...
    loaded = _counts(db)
    again = cli("seed-demo")
    assert again.exit_code == 0, again.output
    assert _counts(db) == loaded
    # ...and --if-empty does nothing at all once there is data.
    skipped = cli("seed-demo", "--if-empty")
    assert skipped.exit_code == 0 and "already has data" in skipped.output
    assert _counts(db) == loaded


# --- the real `flask` command, as the contract writes it --------------------------------

def test_the_flask_command_from_the_project_root(tmp_path):
    """`flask --app app tokens create` in a real process, from the project root, on a fresh
    database: the token is alone on the last line of stdout and works."""
    from flask_migrate import upgrade

    from app import create_app
    from extensions import db

    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    other = create_app({"ENV_NAME": "testing", "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": url,
                        "INSTANCE_PATH": str(tmp_path / "instance")})
    with other.app_context():
        upgrade()
        services.create_user(email="ops@test.example.org", name="Ops", role="admin",
                             password="long enough pw", actor=None)
        db.session.remove()

    env = {k: v for k, v in os.environ.items() if not k.startswith(("COUNCILDESK_", "FLASK_"))}
    env.update(DATABASE_URL=url, SECRET_KEY="cli-test-key", COUNCILDESK_ENV="testing",
               COUNCILDESK_INSTANCE_PATH=str(tmp_path / "instance"))
    proc = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "tokens", "create", "ops@test.example.org"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    token = last_line(proc.stdout)
    resp = other.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200 and resp.json["email"] == "ops@test.example.org"
    with other.app_context():
        db.engine.dispose()
