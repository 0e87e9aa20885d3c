"""The audit log's words for users, sign-in and tokens (see core.audit_labels)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from core.audit_labels import register_actions, register_object


def user_name(user_id) -> str:
    from accounts.models import User
    from extensions import db

    user = db.session.get(User, int(user_id))
    return user.name or user.email if user is not None else f"#{user_id}"


def _roles() -> dict:
    from accounts.forms import role_choices

    return dict(role_choices())


def _languages() -> dict:
    from core.i18n import LANGUAGE_NAMES

    return dict(LANGUAGE_NAMES)


def register() -> None:
    register_actions({
        "password_change": _l("Password changed"), "password_reset": _l("Password reset"),
        "sign_out_everywhere": _l("Signed out everywhere"), "session_end": _l("Session ended"),
        "sessions_end": _l("Sessions ended"), "login_throttled": _l("Sign-in held back"),
        "token_create": _l("Token created"), "token_revoke": _l("Token revoked"),
        "token_revoke_all": _l("All tokens revoked"), "totp_enable": _l("Two-step sign-in enabled"),
        "totp_disable": _l("Two-step sign-in disabled"), "totp_reset": _l("Two-step sign-in reset"),
        "recovery_code_used": _l("Recovery code used"),
        "recovery_codes_regenerate": _l("Recovery codes regenerated"),
    })
    register_object("user", _l("User"), fields={
        "role": _l("Role"), "preferred_language": _l("Language"), "token_name": _l("Token name"),
        "expires_at": _l("Expires"), "tokens_revoked": _l("Tokens revoked"), "sessions_ended": _l("Sessions ended"),
        "recovery_codes_left": _l("Recovery codes left"), "scope": _l("Scope"), "address": _l("Address"),
        "session": _l("Session"), "ip_address": _l("IP address"),
    }, formats={"role": _roles, "preferred_language": _languages})
    register_object("address", _l("Address"))
    register_object("login", _l("Sign-in"))
    # Ids of people anywhere in the log read as their names.
    register_object(None, fields={"technician_id": _l("Technician"), "user_id": _l("User"),
                                  "assignee_id": _l("Assigned to")},
                    formats={"technician_id": user_name, "user_id": user_name, "assignee_id": user_name})
