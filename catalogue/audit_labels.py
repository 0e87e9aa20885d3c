"""The audit log's words for the service catalogue (see core.audit_labels)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from catalogue.labels import Labels
from core.audit_labels import register_actions, register_object


def _service_name(service_id) -> str:
    from catalogue.models import Service
    from extensions import db

    service = db.session.get(Service, int(service_id))
    return f"{service.code} · {service.name}" if service is not None else f"#{service_id}"


def register() -> None:
    labels = Labels()
    register_actions({
        "service.create": _l("Service created"), "service.update": _l("Service changed"),
        "service.wave_target": _l("Wave target date set"), "service.subscribe": _l("Service added to a council"),
        "service.update_subscription": _l("Council's service changed"),
        "service.move": _l("Council's service moved"),
    })
    register_object("service", _l("Service"), fields={
        "code": _l("Code"), "name_ca": _l("Name in Catalan"), "name_es": _l("Name in Spanish"),
        "name_en": _l("Name in English"), "provider": _l("Provider"), "category": _l("Category"),
        "documentation_url": _l("Documentation"), "ticket_category": _l("Category of its requests"),
        "default_team_id": _l("Team"), "target_on": _l("Target date"), "wave": _l("Wave"),
    }, formats={"provider": Labels.providers, "category": Labels.categories,
                "ticket_category": lambda: labels.ticket_categories, "target_on": "date", "wave": Labels.waves})
    subscription = {
        "status": _l("Status"), "wave": _l("Wave"), "planned_on": _l("Planned for"), "live_on": _l("Live since"),
        "technician_id": _l("Responsible technician"), "contact": _l("Council contact"),
        "evidence_url": _l("Evidence (link)"), "next_review_on": _l("Next review"),
    }
    register_object("council_service", _l("Council's service"), fields=subscription, formats={
        "status": Labels.statuses, "wave": Labels.waves, "planned_on": "date", "live_on": "date",
        "next_review_on": "date"})
    register_object(None, fields={"service_id": _l("Service")}, formats={"service_id": _service_name})
