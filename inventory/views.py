from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from accounts.models import AuditEntry
from agreements import services as councils
from agreements.models import Council
from core.access import ALL_ROLES, STAFF, allow
from core.csvsafe import delimiter_for
from core.errors import DomainError
from core.i18n import locale_code
from core.inputs import url_args
from core.ui import apply_errors, ui_page
from extensions import db
from inventory import expiry, exporter, importer, labels, services, uploads
from inventory.forms import AssetForm, ImportConfirmForm, ImportForm, StatusForm
from inventory.models import KINDS, STATUSES, Asset

bp = Blueprint("inventory", __name__)

KIND_ICONS = {
    "desktop": "pc-display", "laptop": "laptop", "server": "hdd-rack", "printer": "printer",
    "network": "router", "mobile": "phone", "certificate": "patch-check", "license": "card-checklist",
    "domain": "globe", "other": "box",
}
STATUS_FILTERS = ("active", "all", *STATUSES)


@dataclass(frozen=True)
class Labels:
    """What the inventory templates need to name kinds, statuses and fields."""

    kinds: dict
    statuses: dict
    media: dict
    icons: dict
    today: dt.date

    def fields(self, kind: str | None = None) -> dict:
        return labels.field_labels(kind)

    def value(self, name: str, value) -> str:
        """A stored value as people read it (audit log values are plain strings)."""
        if value in (None, ""):
            return "—"
        table = {"kind": self.kinds, "status": self.statuses, "media": self.media}.get(name)
        return str(table.get(value, value)) if table else str(value)


@bp.context_processor
def _labels():
    return {"inv": Labels(labels.kind_labels(), labels.status_labels(), labels.media_labels(),
                          KIND_ICONS, expiry.office_today())}


def _actor():
    return current_user._get_current_object()


# --- lists ---------------------------------------------------------------------------------

@dataclass
class Filters:
    kind: str | None
    status: str
    expiring: str | None
    q: str
    sort: str

    @classmethod
    def from_request(cls) -> Filters:
        args = request.args
        kind = args.get("kind")
        status = args.get("status", "active")
        expiring = args.get("expiring")
        sort = args.get("sort", "tag")
        return cls(kind=kind if kind in KINDS else None,
                   status=status if status in STATUS_FILTERS else "active",
                   expiring=expiring if expiring in ("soon", "expired") else None,
                   q=(args.get("q") or "").strip()[:120],
                   sort=sort if sort in services.LIST_SORTS else "tag")

    def statement(self, council: Council | None):
        return services.asset_query(council_id=council.id if council else None, kind=self.kind,
                                    status=None if self.status == "all" else self.status,
                                    expiring=self.expiring, q=self.q or None, today=expiry.office_today())

    def args(self) -> dict:
        """The filters as query arguments, for export links."""
        values = {"kind": self.kind, "status": self.status, "expiring": self.expiring, "q": self.q}
        return {k: v for k, v in values.items() if v}


LIST_ARGS = ("kind", "status", "expiring", "q", "sort")


def _list(council: Council | None):
    filters = Filters.from_request()
    columns, descending = services.LIST_SORTS[filters.sort]
    page = ui_page(filters.statement(council), list(columns), descending=descending, limit=50, carry=LIST_ARGS)
    kind_counts = {}
    if council is not None:
        kind_counts = dict(db.session.execute(
            select(Asset.kind, func.count()).where(Asset.council_id == council.id, Asset.status != "retired")
            .group_by(Asset.kind)).all())
    all_councils = []
    if council is None and current_user.is_staff:
        all_councils = db.session.scalars(select(Council).order_by(Council.name)).all()
    return render_template("inventory/list.html", page=page, council=council, filters=filters,
                           kind_counts=kind_counts, councils=all_councils,
                           status_filters=STATUS_FILTERS)


@bp.get("/assets")
@allow(*ALL_ROLES)
def assets():
    # Only the list's own filters travel to the council's page: a key named like one of
    # url_for's arguments (`endpoint`, `slug`, `_external`...) was a 500 or a changed link.
    carried = url_args(request.args, LIST_ARGS)
    if current_user.role == "clerk":
        # A clerk has one council: its page names it and offers its exports.
        return redirect(url_for("inventory.council_assets", slug=current_user.council.slug, **carried))
    slug = request.args.get("council")
    if slug:
        return redirect(url_for("inventory.council_assets", slug=slug, **carried))
    return _list(None)


@bp.get("/councils/<slug>/assets")
@allow(*ALL_ROLES)
def council_assets(slug: str):
    return _list(councils.get_council_by_slug(slug))


# --- exports -------------------------------------------------------------------------------

def _export(council: Council | None, fmt: str) -> Response:
    filters = Filters.from_request()
    rows = exporter.export_rows(filters.statement(council))
    stem = f"inventory-{council.slug if council else 'all'}-{expiry.office_today().isoformat()}"
    if fmt == "xlsx":
        body = exporter.to_xlsx(rows, sheet_title=council.name if council else _("Inventory"))
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        sep = request.args.get("sep")
        delimiter = {"comma": ",", "semicolon": ";"}.get(sep or "", delimiter_for(locale_code()))
        body = exporter.to_csv(rows, delimiter)
        mimetype = "text/csv"
    resp = Response(body, mimetype=mimetype)
    if fmt == "csv":
        resp.headers["Content-Type"] = "text/csv; charset=utf-8"
    resp.headers["Content-Disposition"] = f'attachment; filename="{stem}.{fmt}"'
    # A council's inventory: no shared cache may keep it.
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/assets/export.<any(csv, xlsx):fmt>")
@allow(*ALL_ROLES)
def export_assets(fmt: str):
    return _export(None, fmt)


@bp.get("/councils/<slug>/assets/export.<any(csv, xlsx):fmt>")
@allow(*ALL_ROLES)
def export_council_assets(slug: str, fmt: str):
    return _export(councils.get_council_by_slug(slug), fmt)


# --- one asset -----------------------------------------------------------------------------

@bp.get("/assets/<int:asset_id>")
@allow(*ALL_ROLES)
def asset(asset_id: int):
    asset = services.get_asset(asset_id)
    history = ui_page(services.history(asset, _actor()), [AuditEntry.created_at, AuditEntry.id], descending=True,
                      limit=50, param="history")
    reminders = services.reminders_sent(asset) if current_user.is_staff else []
    shown = _shown_fields(asset.kind, asset)
    return render_template("inventory/asset.html", asset=asset, history=history, reminders=reminders,
                           shown=shown, status_form=StatusForm(status=asset.status))


def _shown_fields(kind: str | None, asset: Asset | None) -> list[str]:
    """The kind's fields, and any other one that holds a value (never hide stored data)."""
    own = labels.fields_for_kind(kind)
    return [f for f in services.OPTIONAL_FIELDS if f not in labels.COMMON_FIELDS and (
        f in own or (asset is not None and getattr(asset, f) not in (None, "")))]


def _field_kinds() -> dict[str, str]:
    """For each field, the kinds it belongs to (the form's script shows and hides by kind)."""
    return {f: " ".join(k for k in KINDS if f in labels.KIND_FIELDS[k]) for f in services.OPTIONAL_FIELDS}


def _render_form(form: AssetForm, council: Council, asset: Asset | None, suggestions: dict | None = None):
    kind = form.kind.data if form.kind.data in KINDS else (asset.kind if asset else "other")
    form.relabel(kind)
    # Fields that hold a value stay visible whatever the kind, so nothing typed is lost from view.
    filled = {f for f in services.OPTIONAL_FIELDS if getattr(form, f).data not in (None, "")}
    return render_template("inventory/asset_form.html", form=form, council=council, asset=asset, kind=kind,
                           own_fields=set(labels.fields_for_kind(kind)), filled=filled,
                           field_kinds=_field_kinds(), common_fields=labels.COMMON_FIELDS,
                           optional_fields=[f for f in services.OPTIONAL_FIELDS if f not in labels.COMMON_FIELDS],
                           kind_labels={k: {f: str(v) for f, v in labels.KIND_LABELS.get(k, {}).items()}
                                        for k in KINDS},
                           suggestions=suggestions or {})


@bp.route("/councils/<slug>/assets/new", methods=["GET", "POST"])
@allow(*STAFF)
def asset_new(slug: str):
    council = councils.get_council_by_slug(slug)
    kind = request.args.get("kind")
    if request.method == "GET" and kind not in KINDS:
        return render_template("inventory/kind_picker.html", council=council)
    suggestions = services.suggest_tags(council)
    form = AssetForm(data={"kind": kind, "status": "in_use", "tag": suggestions.get(kind, "")})
    if form.validate_on_submit():
        try:
            created = services.create_asset(council, form.values(creating=True), actor=_actor())
        except DomainError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash(_("Asset %(tag)s created.", tag=created.tag), "success")
            return redirect(url_for("inventory.asset", asset_id=created.id))
    return _render_form(form, council, None, suggestions)


@bp.route("/assets/<int:asset_id>/edit", methods=["GET", "POST"])
@allow(*STAFF)
def asset_edit(asset_id: int):
    asset = services.get_asset(asset_id)
    form = AssetForm(obj=asset)
    if request.method == "GET":
        form.media.data = asset.media or ""
    if form.validate_on_submit():
        try:
            services.update_asset(asset, form.values(creating=False), actor=_actor())
        except DomainError as exc:
            db.session.rollback()
            apply_errors(form, exc)
        else:
            flash(_("Asset %(tag)s saved.", tag=asset.tag), "success")
            return redirect(url_for("inventory.asset", asset_id=asset.id))
    return _render_form(form, asset.council, asset)


@bp.post("/assets/<int:asset_id>/status")
@allow(*STAFF)
def asset_status(asset_id: int):
    asset = services.get_asset(asset_id)
    form = StatusForm()
    if form.validate_on_submit():
        try:
            services.set_status(asset, form.status.data, actor=_actor())
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.fields.get("status", exc.message)), "danger")
        else:
            flash(_("%(tag)s is now: %(status)s.", tag=asset.tag,
                    status=labels.status_labels()[asset.status]), "success")
    else:
        flash(_("Choose a status."), "danger")
    return redirect(url_for("inventory.asset", asset_id=asset.id))


# --- import --------------------------------------------------------------------------------

@bp.route("/councils/<slug>/assets/import", methods=["GET", "POST"])
@allow(*STAFF)
def import_assets(slug: str):
    council = councils.get_council_by_slug(slug)
    user = _actor()
    form = ImportForm()
    confirm = ImportConfirmForm()
    result = None
    token = None
    if request.method == "POST" and "upload" in request.form:
        if confirm.validate_on_submit():
            token = confirm.upload.data
            data = uploads.load(token, council_id=council.id, user_id=user.id)
            if data is None:
                flash(_("The uploaded file is no longer available; upload it again."), "warning")
                return redirect(url_for("inventory.import_assets", slug=council.slug))
            try:
                result = importer.import_assets(council, data, actor=user, dry_run=False)
            except DomainError as exc:
                flash(str(exc.message), "danger")
                return redirect(url_for("inventory.import_assets", slug=council.slug))
            if result.committed:
                uploads.discard(token, council_id=council.id, user_id=user.id)
                flash(_("Import done. New assets: %(created)d. Updated: %(updated)d.",
                        created=result.created, updated=result.updated), "success")
                return redirect(url_for("inventory.council_assets", slug=council.slug, sort="updated"))
            # The inventory changed since the preview and the file no longer fits: show why.
            token = None
    elif form.validate_on_submit():
        data = form.file.data.read(importer.IMPORT_MAX_BYTES + 1)
        result = importer.import_assets(council, data, actor=user, dry_run=True)
        if result.ok and (result.created or result.updated):
            token = uploads.stash(data, council_id=council.id, user_id=user.id)
    confirm = ImportConfirmForm(formdata=None, upload=token) if token else None
    return render_template("inventory/import.html", council=council, form=form, confirm=confirm,
                           result=result, columns=importer.column_help(),
                           max_rows=importer.IMPORT_MAX_ROWS,
                           max_mb=importer.IMPORT_MAX_BYTES // (1024 * 1024))


# --- what expires --------------------------------------------------------------------------

@bp.get("/expiring")
@allow(*STAFF)
def expiring():
    today = expiry.office_today()
    council = None
    slug = request.args.get("council")
    if slug:
        council = councils.get_council_by_slug(slug)
    items = expiry.expiry_items(today, council_id=council.id if council else None)
    # What kind of thing expires: "warranty" for a PC's warranty, else the asset's kind
    # (certificate, licence, domain...). Offered from what is listed; anything else shows all.
    kinds = sorted({_expiry_kind(i) for i in items})
    kind = request.args.get("kind") or None
    if kind in kinds:
        items = [i for i in items if _expiry_kind(i) == kind]
    else:
        kind = None
    all_councils = db.session.scalars(select(Council).order_by(Council.name)).all()
    return render_template("inventory/expiring.html", expired=[i for i in items if i.days < 0],
                           soon=[i for i in items if i.days >= 0], council=council, councils=all_councils,
                           days=expiry.EXPIRING_DAYS, kinds=kinds, kind=kind)


def _expiry_kind(item) -> str:
    return "warranty" if item.field == "warranty_until" else item.asset.kind
