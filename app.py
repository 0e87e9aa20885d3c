"""CouncilDesk application factory."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask

import config as config_module

# The domain packages, in the order their blueprints and hooks are registered.
DOMAINS = ("accounts", "agreements", "support", "inventory", "remote", "reports", "catalogue", "scale")


def _database_uri(app: Flask) -> str:
    uri = app.config.get("SQLALCHEMY_DATABASE_URI")
    if uri:
        return uri
    os.makedirs(app.instance_path, exist_ok=True)
    return "sqlite:///" + os.path.join(app.instance_path, "councildesk.sqlite3")


def _secret_key(app: Flask) -> None:
    if app.config.get("SECRET_KEY"):
        return
    if app.config["ENV_NAME"] == "production":
        raise RuntimeError(
            "SECRET_KEY is not set. Set the SECRET_KEY environment variable "
            "(e.g. python -c 'import secrets; print(secrets.token_hex(32))')."
        )
    # Development: a key kept under instance/, so sessions survive restarts of `make run`.
    os.makedirs(app.instance_path, exist_ok=True)
    path = Path(app.instance_path) / "dev-secret-key"
    if not path.exists():
        import secrets

        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    app.config["SECRET_KEY"] = path.read_text().strip()


def create_app(config: dict | None = None) -> Flask:
    """Build the application.

    Configuration: defaults (config.py, by COUNCILDESK_ENV), then instance/config.py, then the
    environment, then `config` (tests).

    The instance folder (its config.py, the default SQLite file, the development key) is the
    project's instance/ unless `INSTANCE_PATH` (in `config`) or COUNCILDESK_INSTANCE_PATH
    names another one: tests, and installations that keep state outside the code.
    """
    instance_path = (config or {}).get("INSTANCE_PATH") or os.environ.get("COUNCILDESK_INSTANCE_PATH")
    app = Flask(__name__, instance_relative_config=True, static_folder="static",
                template_folder="templates",
                instance_path=os.path.abspath(instance_path) if instance_path else None)
    env_name = (config or {}).get("ENV_NAME") or os.environ.get("COUNCILDESK_ENV", "production")
    app.config.from_object(config_module.CONFIGS.get(env_name, config_module.DefaultConfig))
    app.config.from_pyfile("config.py", silent=True)
    app.config.update(config_module.config_from_environment())
    if config:
        app.config.update(config)
    app.config["SQLALCHEMY_DATABASE_URI"] = _database_uri(app)
    _secret_key(app)
    if not app.config.get("DATA_DIR"):
        app.config["DATA_DIR"] = os.path.join(app.instance_path, "data")
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": True,
                                                   **app.config["SQLALCHEMY_ENGINE_OPTIONS"]}

    app.jinja_env.autoescape = True
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    if not app.debug and not app.testing:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        # Alembic announces each of its plugins at INFO whenever it is imported.
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    _init_extensions(app)
    _register(app)
    return app


def _init_extensions(app: Flask) -> None:
    import core.models  # noqa: F401  (tables of the cross-domain models)
    from core import access, i18n, mail, scope, security, ui
    from core.db import configure_sqlite
    from core.errorpages import handle_errors
    from extensions import babel, csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    with app.app_context():
        configure_sqlite(db.engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])
    scope.install()
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent / "migrations"))
    login_manager.init_app(app)
    # Access control before CSRF: who may do something is decided before whether the form
    # is well-formed, and the API (token-authenticated, no cookies) is exempt from CSRF.
    access.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale,
                   default_translation_directories=str(Path(__file__).resolve().parent / "translations"))
    limiter.init_app(app)
    security.init_app(app)
    i18n.init_app(app)
    ui.init_app(app)
    mail.init_app(app)
    handle_errors(app)


def _register(app: Flask) -> None:
    import importlib

    from core import holiday_pages
    from core import views as core_views
    from core.backup import backup_command, restore_command
    from core.db import IdConverter
    from core.demo import seed_demo_command
    from core.openapi import core_api
    from extensions import csrf

    # Before any route is added: routes bind their converters when registered.
    app.url_map.converters["int"] = IdConverter
    app.register_blueprint(core_views.bp)
    holiday_pages.init_app(app)
    app.register_blueprint(core_api)
    for name in DOMAINS:
        importlib.import_module(name).init_app(app)
    for bp in app.blueprints.values():
        if getattr(bp, "is_api", False):
            csrf.exempt(bp)
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
