"""Extension objects, created unbound so that importing them starts nothing.

`create_app` binds each of them to the application it builds.
"""

from __future__ import annotations

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from core.scope import ScopeAwareSession

# Named constraints make Alembic migrations deterministic and let PostgreSQL and SQLite
# report the same names in IntegrityError, which services map to domain errors.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# The session class keeps the council scope effective on identity-map lookups (core.scope).
db = SQLAlchemy(model_class=Base, session_options={"class_": ScopeAwareSession})
migrate = Migrate(compare_type=True, render_as_batch=True)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
# Storage comes from RATELIMIT_STORAGE_URI: memory by default, a Redis URL when several
# gunicorn workers must share the counters.
limiter = Limiter(get_remote_address)
