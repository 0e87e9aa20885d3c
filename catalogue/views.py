"""Pages of the catalogue: the list and its editing, a service's rollout by wave (with bulk
subscribe and wave moves, each previewed first), the councils × services matrix (page, chart,
CSV), and the clerk's view of the council's live services."""

from __future__ import annotations

from types import SimpleNamespace

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge

from accounts.models import User
from agreements import services as councils
from agreements.models import Council
from catalogue import bulk, evidence, labels, matrix, services
from catalogue.forms import MatrixImportForm, ServiceForm, SubscribeForm, SubscriptionForm, WaveMoveForm, WaveTargetForm
from catalogue.models import STATUSES, WAVES, CouncilService
from core.access import ALL_ROLES, MANAGERS, STAFF, allow
from core.csvsafe import delimiter_for
from core.errorpages import render_error_page
from core.errors import DomainError
from core.i18n import locale_code
from core.inputs import ascii_int
from core.ui import apply_errors
from extensions import db
from support.teams import services as teams

bp = Blueprint("catalogue", __name__)
SERVICE_FIELDS = ("code", "name", "name_ca", "name_es", "name_en", "description", "provider", "category",
                  "documentation_url", "ticket_category", "default_team_id", "active")


@bp.context_processor
def _labels():
    return {"cat": labels.Labels()}


def _actor():
    return current_user._get_current_object()


def _service_form(**kwargs) -> ServiceForm:
    lab = labels.Labels()
    form = ServiceForm(providers=lab.providers.items(), categories=lab.categories.items(),
                       ticket_categories=lab.ticket_categories.items(),
                       teams=[(t.id, t.name) for t in teams.list_teams()], **kwargs)
    if form.default_team_id.data is None:
        form.default_team_id.data = 0
    return form


def _service_values(form: ServiceForm, fields) -> dict:
    values = {f: getattr(form, f).data for f in fields}
    values["default_team_id"] = values.get("default_team_id") or None  # 0: "by its category"
    return values


@bp.get("/catalogue")
@allow(*STAFF)
def index():
    return render_template("catalogue/index.html", services=services.all_services())


@bp.route("/catalogue/new", methods=["GET", "POST"])
@allow(*MANAGERS)
def service_new():
    form = _service_form()
    if form.validate_on_submit():
        values = _service_values(form, SERVICE_FIELDS)
        try:
            service = services.create_service(values, actor=_actor())
        except DomainError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash(_("Service %(code)s added.", code=service.code), "success")
            return redirect(url_for("catalogue.rollout", service_id=service.id))
    return render_template("catalogue/service_form.html", form=form, service=None)


@bp.route("/catalogue/<int:service_id>/edit", methods=["GET", "POST"])
@allow(*MANAGERS)
def service_edit(service_id: int):
    service = services.get_service(service_id)
    form = _service_form(obj=service)
    form.code.render_kw = {"readonly": True}
    if form.validate_on_submit():
        values = _service_values(form, [f for f in SERVICE_FIELDS if f != "code"])
        try:
            services.update_service(service, values, actor=_actor())
        except DomainError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("catalogue.rollout", service_id=service.id))
    return render_template("catalogue/service_form.html", form=form, service=service)


def _technicians():
    return [(u.id, u.name) for u in db.session.scalars(
        select(User).where(User.role != "clerk", User.active.is_(True)).order_by(User.name))]


def _subscribe_form(service) -> SubscribeForm:
    lab = labels.Labels()
    taken = set(db.session.scalars(select(CouncilService.council_id).where(CouncilService.service_id == service.id)))
    choices = [(c.id, c.name) for c in db.session.scalars(
        select(Council).where(Council.active.is_(True)).order_by(Council.name)) if c.id not in taken]
    return SubscribeForm(councils=choices, waves=lab.waves.items(), technicians=_technicians())


@bp.get("/catalogue/<int:service_id>")
@allow(*STAFF)
def rollout(service_id: int):
    service = services.get_service(service_id)
    data = services.rollout(service)
    by_wave = {w: [c for c in data["councils"] if c.wave == w] for w in WAVES}
    return render_template("catalogue/rollout.html", service=service, data=data, by_wave=by_wave,
                           targets=services.wave_targets(service), subscribe=_subscribe_form(service),
                           target_form=WaveTargetForm(), today=services.office_today())


@bp.post("/catalogue/<int:service_id>/waves/<any(pilot, extension, consolidation):wave>/target")
@allow(*MANAGERS)
def wave_target(service_id: int, wave: str):
    service = services.get_service(service_id)
    form = WaveTargetForm()
    if form.validate_on_submit():
        services.set_wave_target(service, wave, form.target_on.data, actor=_actor())
        flash(_("Saved."), "success")
    else:
        flash(_("Enter a date (YYYY-MM-DD)."), "danger")
    return redirect(url_for("catalogue.rollout", service_id=service.id))


@bp.post("/catalogue/<int:service_id>/subscribe")
@allow(*MANAGERS)
def subscribe(service_id: int):
    service = services.get_service(service_id)
    form = _subscribe_form(service)
    if not form.validate_on_submit():
        flash(_("Choose at least one council."), "danger")
        return redirect(url_for("catalogue.rollout", service_id=service.id))
    chosen = [councils.get_council(cid) for cid in form.councils.data]
    if request.form.get("confirm") != "1":
        return render_template("catalogue/subscribe_preview.html", service=service, form=form,
                               steps=bulk.subscribe_preview(service, chosen))
    try:
        steps = bulk.subscribe_apply(service, chosen, wave=form.wave.data, planned_on=form.planned_on.data,
                                     technician_id=form.technician_id.data or None, actor=_actor())
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc.message), "danger")
    else:
        flash(_("%(n)d councils subscribed.", n=sum(1 for s in steps if s.after)), "success")
    return redirect(url_for("catalogue.rollout", service_id=service.id))


@bp.route("/catalogue/<int:service_id>/waves/<any(pilot, extension, consolidation):wave>/move",
          methods=["GET", "POST"])
@allow(*MANAGERS)
def wave_move(service_id: int, wave: str):
    service = services.get_service(service_id)
    form = WaveMoveForm()
    steps = bulk.wave_preview(service, wave)
    if form.validate_on_submit():
        only = {n for n in (ascii_int(v, minimum=1, maximum=services.MAX_ID) for v in request.form.getlist("council")) if n}
        try:
            moved = bulk.wave_apply(service, wave, actor=_actor(), reason=form.reason.data or "", only=only)
        except DomainError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash(_("%(n)d councils moved.", n=len(moved)), "success")
            return redirect(url_for("catalogue.rollout", service_id=service.id))
    return render_template("catalogue/wave_move.html", service=service, wave=wave, steps=steps, form=form)


@bp.route("/catalogue/<int:service_id>/councils/<int:council_id>", methods=["GET", "POST"])
@allow(*STAFF)
def subscription(service_id: int, council_id: int):
    service = services.get_service(service_id)
    council = councils.get_council(council_id)
    sub = services.get_subscription(council.id, service.id)
    lab = labels.Labels()
    form = SubscriptionForm(obj=sub)
    form.status.choices = [(s, lab.statuses[s]) for s in STATUSES]
    form.wave.choices = list(lab.waves.items())
    form.technician_id.choices = [(0, _("Nobody yet"))] + _technicians()
    if request.method == "GET":
        form.technician_id.data = sub.technician_id or 0
    if form.validate_on_submit():
        values = {f: getattr(form, f).data for f in ("status", "wave", "planned_on", "live_on", "contact",
                                                       "evidence_url", "next_review_on", "notes", "reason")}
        values["technician_id"] = form.technician_id.data or None
        values = {k: ("" if v is None and k in ("contact", "evidence_url", "notes", "reason") else v)
                  for k, v in values.items()}
        try:
            services.put_subscription(council, service, values, actor=_actor(), evidence=_upload(form.evidence_upload),
                                      drop_evidence=bool(form.evidence_remove.data))
        except DomainError as exc:
            db.session.rollback()
            # The typed fields come back as sent (the form is re-rendered from the request);
            # only the file must be chosen again, which no browser lets a page refill.
            apply_errors(form, SimpleNamespace(message=exc.message, fields={
                ("evidence_upload" if k == evidence.FIELD else k): v for k, v in exc.fields.items()}))
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("catalogue.subscription", service_id=service.id, council_id=council.id))
    return render_template("catalogue/subscription.html", service=service, council=council, sub=sub, form=form,
                           history=services.history(sub))


def _upload(field) -> tuple[str, bytes] | None:
    storage = getattr(field, "data", None)
    if storage is None or not getattr(storage, "filename", ""):
        return None
    # One byte over the cap is enough for the service to refuse it: never hold a huge file.
    return storage.filename, storage.read(evidence.max_bytes() + 1)


@bp.get("/catalogue/<int:service_id>/councils/<int:council_id>/evidence/download")
@allow(*ALL_ROLES)
def evidence_download(service_id: int, council_id: int):
    """The evidence file, as a download only. A clerk reaches their own council's alone: the
    council scope hides other councils' records (404)."""
    sub = services.get_subscription(council_id, service_id)
    try:
        handle = evidence.path_of(sub).open("rb")
    except OSError:
        abort(404)
    response = send_file(handle, mimetype=sub.evidence_content_type or "application/octet-stream",
                         as_attachment=True, download_name=sub.evidence_filename or "evidence", max_age=0,
                         conditional=False, etag=False)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Cache-Control"] = "private, no-store"
    return response


# The subscription form carries a file: its body may exceed MAX_CONTENT_LENGTH (up to
# TICKET_FORM_MAX_BYTES) so that an oversized file is a field error with the typing kept.
FILE_FORM_ENDPOINTS = ("catalogue.subscription",)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc):
    """Beyond even that nothing of the body can be read: back to the form, with the reason."""
    if request.endpoint not in FILE_FORM_ENDPOINTS:
        return render_error_page(413, exc=exc)
    flash(_("The file was too large to send, so nothing was saved: choose a file of up to 10 MB and send "
            "again."), "danger")
    return redirect(url_for(request.endpoint, **request.view_args))


@bp.get("/catalogue/matrix")
@allow(*STAFF)
def matrix_page():
    return render_template("catalogue/matrix.html", m=matrix.build(), import_form=MatrixImportForm())


@bp.get("/catalogue/matrix.<any(png, svg):ext>")
@allow(*STAFF)
def matrix_chart(ext: str):
    from catalogue import charts

    m = matrix.build()
    cells = {(r, c): m.status(council.id, service.id) for r, council in enumerate(m.councils)
             for c, service in enumerate(m.services)}
    lab = labels.Labels()
    body = charts.matrix_chart([c.name for c in m.councils], [s.local_name for s in m.services], cells,
                               {None: _("not subscribed"), **lab.statuses}, _("Services by council"), ext)
    return Response(body, mimetype=charts.FORMATS[ext], headers={"Cache-Control": "private, no-store"})


@bp.get("/catalogue/matrix.csv")
@allow(*STAFF)
def matrix_csv():
    body = matrix.export_csv(matrix.build(active_only=False), delimiter=delimiter_for(locale_code()))
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="services-matrix.csv"', "Cache-Control": "private, no-store"})


@bp.post("/catalogue/matrix/import")
@allow(*MANAGERS)
def matrix_import():
    form = MatrixImportForm()
    result = None
    if form.validate_on_submit():
        try:
            result = matrix.import_csv(form.file.data.read(matrix.MAX_IMPORT_BYTES + 1), actor=_actor(),
                                       dry_run=not form.apply.data)
        except DomainError as exc:
            db.session.rollback()
            form.file.errors = [str(exc.message)]
    return render_template("catalogue/matrix.html", m=matrix.build(), import_form=form, result=result,
                           applied=bool(form.apply.data) and result is not None and result.ok)


@bp.get("/my-services")
@allow("clerk")
def portal():
    council = councils.get_council(current_user.council_id)
    return render_template("catalogue/portal.html", council=council,
                           subs=services.subscriptions_of(council))
