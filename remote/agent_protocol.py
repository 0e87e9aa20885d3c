"""The agent protocol's bodies: what an agent sends (enrollment, reports) and what it gets back.

Everything an agent sends is hostile input. Lessons.md: GLPI's inventory endpoint had SQL
injection (CVSS 10) and unauthenticated stored XSS. Here every field has a type, a range or a
length, and no control or invisible formatting character (the real agent cleans its strings
the same way, so a report that fails this did not come from it); unknown keys are ignored and
never stored. These models are also the OpenAPI document's (remote.api), and the errors below
are the protocol's answers (status and contract code). Storing what passes is remote.ingest's.
"""

from __future__ import annotations

from typing import Annotated, Literal

from flask_babel import lazy_gettext as _l
from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from core.api import ApiModel, OutModel
from core.errors import DomainError
from core.inputs import BoundedAwareDatetime


def _printable(value: str) -> str:
    if "\x00" in value:
        raise PydanticCustomError("string_nul", "Must not contain the NUL character.")
    # isprintable() is False for control characters and for invisible formatting ones
    # (bidirectional overrides that could disguise a host name on a page): the agent replaces
    # both before sending, so their presence means the report was not written by it.
    if not value.isprintable():
        raise PydanticCustomError("control_characters", "Must not contain control characters.")
    return value


def _text(limit: int, min_length: int = 0):
    return Annotated[str, StringConstraints(max_length=limit, min_length=min_length), AfterValidator(_printable)]


Percent = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
Bytes = Annotated[int, Field(ge=0, le=2**63 - 1)]
Count = Annotated[int, Field(ge=0, le=10**9)]
Load = Annotated[float, Field(ge=0, le=1_000_000, allow_inf_nan=False)]
MAX_ITEMS = 64


class DiskMetricIn(ApiModel):
    mount: _text(255, 1)
    total_bytes: Bytes
    used_bytes: Bytes
    fstype: _text(32) | None = None


class AddressIn(ApiModel):
    interface: _text(64)
    family: Literal["ipv4", "ipv6"]
    address: _text(64)
    up: bool = True


class MetricsIn(ApiModel):
    cpu_percent: Percent
    memory_percent: Percent
    swap_percent: Percent | None = None
    disks: list[DiskMetricIn] = Field(max_length=MAX_ITEMS)
    uptime_seconds: Annotated[int, Field(ge=0, le=10**10)]
    load_1: Load | None = None
    load_5: Load | None = None
    load_15: Load | None = None
    addresses: list[AddressIn] = Field(default_factory=list, max_length=MAX_ITEMS)


class InventoryDiskIn(ApiModel):
    device: _text(255) | None = None
    mount: _text(255) | None = None
    total_bytes: Bytes | None = None
    fstype: _text(32) | None = None


class InventoryIn(ApiModel):
    hostname: _text(255) | None = None
    os: _text(255) | None = None
    os_name: _text(255) | None = None
    os_release: _text(255) | None = None
    os_version: _text(255) | None = None
    arch: _text(64) | None = None
    cpu_model: _text(255) | None = None
    cpu_cores_logical: Annotated[int, Field(ge=1, le=65_536)] | None = None
    cpu_cores_physical: Annotated[int, Field(ge=1, le=65_536)] | None = None
    ram_bytes: Bytes | None = None
    manufacturer: _text(255) | None = None
    model: _text(255) | None = None
    serial: _text(255) | None = None
    ip_address: _text(64) | None = None
    disks: list[InventoryDiskIn] = Field(default_factory=list, max_length=MAX_ITEMS)


class AgentInfoIn(ApiModel):
    version: _text(32) | None = None
    spool_depth: Count = 0
    spool_dropped: Count = 0
    spool_rejected: Count = 0


class EnrollIn(ApiModel):
    enrollment_key: str = Field(min_length=1, max_length=200,
                                description="The council's key (`POST /councils/{id}/enrollment-key`).")
    hostname: _text(255, 1)
    os: _text(255) | None = None
    inventory: InventoryIn = Field(default_factory=InventoryIn)


class ReportIn(ApiModel):
    collected_at: BoundedAwareDatetime = Field(description="When the agent collected the report (ISO 8601 with "
                                                           "offset, years 1900 to 2200).")
    report_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{8,64}$")] | None = Field(
        None, description="Random per report; a report already received is accepted again and ignored.")
    metrics: MetricsIn
    inventory: InventoryIn = Field(default_factory=InventoryIn)
    agent: AgentInfoIn | None = None


class EnrollOut(OutModel):
    agent_id: int
    token: str = Field(description="The agent token. Shown once: only its hash is stored.")
    asset_id: int
    report_interval_seconds: int
    status: Literal["enrolled", "pending"] = Field(
        "enrolled", description="`pending`: the host name belongs to a machine whose agent is alive; the office "
                                "must approve this enrollment on the agents page first. Until then reports get "
                                "403 `enrollment_pending` (keep them and retry after `Retry-After`).")


class ReportAccepted(OutModel):
    status: Literal["accepted", "duplicate"]
    report_interval_seconds: int = Field(description="The interval the agent should report at from now on.")


class EnrollmentRefused(DomainError):
    status = 401
    code = "invalid_enrollment_key"
    default_message = _l("This enrollment key is not valid: ask the office for the council's current key.")


class AgentBusy(DomainError):
    status = 429
    code = "too_many_requests"
    default_message = _l("Too many requests; try again later.")


class ReportTooSoon(DomainError):
    """A fresh report arrived sooner than a quarter of the report interval after the last
    fresh one: the agent (or whoever holds its token) is sending too often. `Retry-After`
    says when the next one will be taken; the real agent keeps the report in its spool."""

    status = 429
    code = "too_many_requests"
    default_message = _l("Reports are arriving too often for this agent's interval; try again later.")

    def __init__(self, retry_after: int):
        super().__init__()
        self.retry_after = max(1, int(retry_after))
        self.headers = {"Retry-After": str(self.retry_after)}


class EnrollmentPending(DomainError):
    """The agent enrolled with the host name of a machine whose agent is alive: until a
    person approves it on the agents page, its reports are refused (and kept by the agent)."""

    status = 403
    code = "enrollment_pending"
    default_message = _l("This agent's enrollment is waiting for the office's approval; try again later.")

    def __init__(self, retry_after: int):
        super().__init__()
        self.headers = {"Retry-After": str(max(1, int(retry_after)))}


class AgentRevoked(DomainError):
    status = 401
    code = "unauthorized"
    default_message = _l("A valid token is required.")
