"""The shared-service catalogue: which services each council has, in which rollout wave, since
when, who answers for it, and the hours the services take (issue 18)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from catalogue import api
    from catalogue.models import Service
    from core.access import register_path_object

    register_path_object("service_id", Service)
    app.register_blueprint(api.bp)
