"""Assets of the councils (equipment, certificates, licences, domains) and expiry reminders."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from agreements.models import Council
from core.db import UTCDateTime, utcnow
from core.scope import CouncilOwned
from extensions import db

# The contract's kinds and statuses (docs/api-contract.md, "Assets"), in the order menus show them.
KINDS = ("desktop", "laptop", "server", "printer", "network", "mobile",
         "certificate", "license", "domain", "other")
STATUSES = ("in_use", "stock", "repair", "retired")
HARDWARE_KINDS = ("desktop", "laptop", "server", "printer", "network", "mobile")
# Where a certificate's private key lives: it decides how it is renewed (a card needs the
# holder in person at the registration office, a software certificate does not).
MEDIA = ("software", "card", "usb_token", "cloud")

# Short kind codes for suggested tags: CODE-KIND-NNN (MURA-PC-004).
KIND_CODES = {
    "desktop": "PC", "laptop": "LAP", "server": "SRV", "printer": "PRN", "network": "NET",
    "mobile": "MOB", "certificate": "CERT", "license": "LIC", "domain": "DOM", "other": "OTH",
}

# The dates that expire, and the reminders they get. Warranty reminders concern hardware,
# expiry reminders certificates, licences and domains; both apply to any kind that has the
# date filled in, so data entered through the API is never silently ignored.
DUE_FIELDS = ("expires_on", "warranty_until")


def _in_list(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Asset(CouncilOwned, db.Model):
    """One thing the office answers for in a council. Never deleted: retiring is a status."""

    __tablename__ = "assets"
    __table_args__ = (
        # Tags are unique per council, never across councils (each council numbers its own).
        UniqueConstraint("council_id", "tag"),
        CheckConstraint(_in_list("kind", KINDS), name="kind_known"),
        CheckConstraint(_in_list("status", STATUSES), name="status_known"),
        CheckConstraint("media IS NULL OR " + _in_list("media", MEDIA), name="media_known"),
        CheckConstraint("seats IS NULL OR seats >= 0", name="seats_not_negative"),
        Index("ix_assets_council_kind", "council_id", "kind"),
        # The expiring-soon page and the reminders job range over these dates in every council.
        Index("ix_assets_expires_on", "expires_on"),
        Index("ix_assets_warranty_until", "warranty_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tag: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="in_use")
    manufacturer: Mapped[str] = mapped_column(String(120), default="")
    model: Mapped[str] = mapped_column(String(120), default="")
    serial: Mapped[str] = mapped_column(String(120), default="")
    hostname: Mapped[str] = mapped_column(String(253), default="")
    ip_address: Mapped[str] = mapped_column(String(45), default="")
    os: Mapped[str] = mapped_column(String(120), default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    assigned_to: Mapped[str] = mapped_column(String(120), default="")
    holder: Mapped[str] = mapped_column(String(200), default="")
    issuer: Mapped[str] = mapped_column(String(120), default="")
    media: Mapped[str | None] = mapped_column(String(16))
    seats: Mapped[int | None] = mapped_column(Integer)
    purchased_on: Mapped[dt.date | None] = mapped_column(Date)
    warranty_until: Mapped[dt.date | None] = mapped_column(Date)
    expires_on: Mapped[dt.date | None] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
    # Set by the monitoring agents (remote/); null until an agent reports for this asset.
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    council: Mapped[Council] = relationship(lazy="joined", innerjoin=True)

    @property
    def retired(self) -> bool:
        return self.status == "retired"

    def __repr__(self) -> str:
        return f"<Asset {self.tag}>"


class AssetReminder(CouncilOwned, db.Model):
    """An expiry reminder that was sent.

    The unique key is the whole idempotency story: the job claims a reminder by inserting its
    row and only notifies when the insert took, so two runs (or two scheduler processes) can
    never send the same reminder twice. The due date is part of the key, so a renewed
    certificate (a new `expires_on`) is reminded again at each threshold.
    """

    __tablename__ = "asset_reminders"
    __table_args__ = (
        UniqueConstraint("asset_id", "due_field", "due_date", "threshold"),
        CheckConstraint(_in_list("due_field", DUE_FIELDS), name="due_field_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    due_field: Mapped[str] = mapped_column(String(20))
    due_date: Mapped[dt.date] = mapped_column(Date)
    threshold: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
