"""Request and response bodies. Every input model forbids unknown fields."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from herald.domain import clients as rules
from herald.domain.statuses import MailingStatus, MessageStatus

MAX_ID = 2**63 - 1


def _storable(value: str) -> str:
    """PostgreSQL text holds neither NUL nor lone UTF-16 surrogates (JSON can carry both)."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


Text = Annotated[str, AfterValidator(_storable)]
Phone = Annotated[str, BeforeValidator(rules.normalise_phone)]
OperatorCode = Annotated[Text, AfterValidator(rules.check_operator_code)]
Tag = Annotated[Text, AfterValidator(rules.check_tag)]
TimeZone = Annotated[Text, AfterValidator(rules.check_timezone)]
MessageText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=4096),
    AfterValidator(_storable),
    AfterValidator(str.strip),
]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClientCreate(Input):
    phone: Phone = Field(examples=["79001234567"])
    operator_code: OperatorCode | None = Field(
        default=None, description="Defaults to digits 2-4 of the phone.", examples=["900"]
    )
    tag: Tag = Field(default="", examples=["vip"])
    timezone: TimeZone = Field(default="UTC", examples=["Europe/Moscow"])


class ClientUpdate(Input):
    phone: Phone | None = None
    operator_code: OperatorCode | None = None
    tag: Tag | None = None
    timezone: TimeZone | None = None


class ClientOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    phone: str
    operator_code: str
    tag: str
    timezone: str
    created_at: datetime
    updated_at: datetime


class ClientPage(BaseModel):
    items: list[ClientOut]
    next_cursor: int | None = Field(description="Pass as `cursor` for the next page.")


class ImportLineError(BaseModel):
    line: int
    field: str
    message: str


class ImportReport(BaseModel):
    created: int
    updated: int
    errors: list[ImportLineError]


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


class MailingFilter(Input):
    operator_codes: Annotated[list[OperatorCode], Field(max_length=1000)] = Field(
        default_factory=list, examples=[["900", "901"]]
    )
    tags: Annotated[list[Tag], Field(max_length=1000)] = Field(
        default_factory=list, examples=[["vip"]]
    )

    @model_validator(mode="after")
    def _dedupe(self) -> MailingFilter:
        self.operator_codes = _unique(self.operator_codes)
        self.tags = _unique(self.tags)
        return self


def _check_text(value: str) -> str:
    if not value:
        raise ValueError("must not be empty or only spaces")
    return value


class MailingCreate(Input):
    text: Annotated[MessageText, AfterValidator(_check_text)] = Field(
        examples=["Our shop opens on Sunday"]
    )
    filter: MailingFilter = Field(default_factory=MailingFilter)
    start_at: AwareDatetime = Field(examples=["2026-12-04T10:00:00+03:00"])
    end_at: AwareDatetime = Field(examples=["2026-12-04T18:00:00+03:00"])

    @field_validator("end_at")
    @classmethod
    def _after_start(cls, end_at: datetime, info: ValidationInfo) -> datetime:
        start_at = info.data.get("start_at")
        if start_at is not None and end_at <= start_at:
            raise ValueError("must be later than start_at")
        return end_at


class MailingUpdate(Input):
    text: Annotated[MessageText, AfterValidator(_check_text)] | None = None
    filter: MailingFilter | None = None
    start_at: AwareDatetime | None = None
    end_at: AwareDatetime | None = None


class MailingOut(BaseModel):
    id: int
    text: str
    filter: MailingFilter
    start_at: datetime
    end_at: datetime
    status: MailingStatus
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, mailing: Any) -> MailingOut:
        """From a storage Mailing, whose filter is two columns."""
        return cls(
            id=mailing.id,
            text=mailing.text,
            filter=MailingFilter(
                operator_codes=mailing.filter_operator_codes, tags=mailing.filter_tags
            ),
            start_at=mailing.start_at,
            end_at=mailing.end_at,
            status=mailing.status,
            created_at=mailing.created_at,
            updated_at=mailing.updated_at,
        )


class MailingPage(BaseModel):
    items: list[MailingOut]
    next_cursor: int | None


class Preview(BaseModel):
    clients: int = Field(description="How many live clients the filter reaches now.")


Counts = Annotated[
    dict[str, int],
    Field(examples=[{s.value: 0 for s in MessageStatus} | {"sent": 9120, "failed": 3}]),
]


class MailingStats(BaseModel):
    id: int
    text: str
    status: MailingStatus
    start_at: datetime
    end_at: datetime
    total: int
    counts: Counts


class GeneralStats(BaseModel):
    mailings: list[MailingStats]
    totals: Counts


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    mailing_id: int
    client_id: int
    phone: str
    status: MessageStatus
    created_at: datetime
    sent_at: datetime | None
    attempts: int
    last_error: str | None
    updated_at: datetime


class MailingDetail(BaseModel):
    mailing: MailingOut
    total: int
    counts: Counts
    messages: list[MessageOut]
    next_cursor: int | None


class DispatchReport(BaseModel):
    started: int
    fanned_out: int
    enqueued: int
    rescued: int
    expired: int
    finished: int


class FieldError(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    detail: str
    errors: list[FieldError] = Field(default_factory=list)


class WorkerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    worker_id: str
    breaker: str = Field(description="closed, open or half_open")
    breaker_reason: str | None
    in_flight: int
    calls: int
    started_at: datetime
    seen_at: datetime | None


class PipelineOut(BaseModel):
    provider: str = Field(
        description="healthy, failing (breaker open), paused (token refused) or unknown "
        "(no worker heard from)",
        examples=["healthy"],
    )
    queued: int = Field(description="Messages handed to the broker and not yet claimed")
    workers: list[WorkerOut]
