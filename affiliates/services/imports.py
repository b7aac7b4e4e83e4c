"""Offline sales from CSV (a store's register export): every row goes through the same
validation and the same intake service as the API, so a re-import changes nothing.

A row with `type=refund` refunds the sale of its `order_id` (its `amount`, or when empty
what remains) and must carry a `refund_id`: the refund is applied once, so importing the
file again refunds nothing more. Its other columns are not read."""

from __future__ import annotations

import datetime as dt
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from affiliates.exceptions import DomainError, Invalid
from affiliates.models import Conversion
from affiliates.services import conversions, refunds
from affiliates.services.program import get_offer
from affiliates.validation import ConversionCreate, RefundRow, validation_errors

REQUIRED = ("order_id", "amount")
OPTIONAL = (
    "type", "currency", "promo_code", "customer_id", "customer_email", "click_id", "occurred_at",
    "refund_id",
)  # fmt: skip
REFUND = "refund"  # the `type` of a refund row
# pandas' warning for a row with too many fields, which it skips
_SKIPPED = re.compile(r"Skipping line (\d+): ([^\n]*)")


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    repeated: int = 0
    refunded: int = 0  # refund rows applied
    refunds_repeated: int = 0  # refund rows already applied (by an earlier import, say)
    errors: list[tuple[int, str]] = field(default_factory=list)
    # rows imported without an optional field that could not be used, by line number
    warnings: list[tuple[int, str]] = field(default_factory=list)


def _row_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{e['field']}: {e['message']}" for e in validation_errors(exc))
    if isinstance(exc, DomainError):
        fields = ", ".join(e["field"] for e in exc.errors)
        return f"{fields}: {exc.detail}" if fields else exc.detail
    return str(exc)


def import_orders(
    session: Session,
    path: str,
    offer_id: int,
    *,
    secret: str,
    now: dt.datetime,
    chunk_size: int = 5000,
) -> ImportReport:
    """Read the CSV in chunks; land the good rows, report the bad ones by line number."""
    get_offer(session, offer_id)
    report = ImportReport()
    malformed: set[int] = set()  # lines pandas skipped (too many fields), by line number
    # The rows land on the intake's own connection: end the offer's read, or it would pin a
    # connection (and SQLite's WAL, which no checkpoint could reset) for the whole file.
    session.commit()
    try:
        # A context manager, so the file is closed also when a chunk raises; a row with
        # too many fields is skipped with a ParserWarning naming its line, caught here.
        with warnings.catch_warnings(record=True) as caught, pd.read_csv(
            path, dtype=str, keep_default_na=False, chunksize=chunk_size, skipinitialspace=True,
            encoding="utf-8-sig", skip_blank_lines=False, on_bad_lines="warn",
        ) as reader:  # fmt: skip
            warnings.simplefilter("always", pd.errors.ParserWarning)
            first = True
            line = 1  # the header
            for chunk in reader:
                _collect_malformed(caught, malformed, report)
                if first:
                    columns = [str(c).strip() for c in chunk.columns]
                    missing = [name for name in REQUIRED if name not in columns]
                    if missing:
                        raise Invalid("file", f"Missing required column(s): {', '.join(missing)}.")
                    first = False
                chunk.columns = [str(c).strip() for c in chunk.columns]
                for record in chunk.to_dict("records"):
                    line += 1
                    while line in malformed:  # already reported
                        line += 1
                    if not any(str(value).strip() for value in record.values()):
                        continue  # a blank line: counted, not a row
                    report.rows += 1
                    _import_row(session, record, offer_id, line, report, secret, now)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise Invalid("file", f"The file is not a readable CSV: {str(exc)[:200]}") from None
    except pd.errors.EmptyDataError:
        raise Invalid("file", "The file is empty.") from None
    report.errors.sort()
    return report


def _collect_malformed(
    caught: list[warnings.WarningMessage], malformed: set[int], report: ImportReport
) -> None:
    for warning in caught:
        for found in _SKIPPED.finditer(str(warning.message)):
            line = int(found.group(1))
            if line not in malformed:
                malformed.add(line)
                report.rows += 1
                report.errors.append((line, f"row: {found.group(2).strip()}"))
    caught.clear()


def _import_row(
    session: Session,
    record: dict[str, Any],
    offer_id: int,
    line: int,
    report: ImportReport,
    secret: str,
    now: dt.datetime,
) -> None:
    data = {
        name: str(record[name]).strip()
        for name in (*REQUIRED, *OPTIONAL)
        if name in record and str(record[name]).strip()
    }
    if data.get("type", "").casefold() == REFUND:
        _import_refund(session, data, offer_id, line, report)
        return
    if "refund_id" in data:
        report.errors.append((line, f"refund_id: only a row of type {REFUND} has one."))
        return
    try:
        body = ConversionCreate.model_validate({"offer_id": offer_id, **data})
        intake = conversions.record(
            session.get_bind().engine,
            body.intake(),
            actor="import-orders",
            secret=secret,
            now=now,
            source="import",
        )
    except (ValidationError, DomainError) as exc:
        session.rollback()
        report.errors.append((line, _row_error(exc)))
        return
    if intake.created:
        report.created += 1
        for warning in intake.conversion.warnings:
            report.warnings.append((line, f"{warning['field']}: {warning['message']}"))
    else:
        report.repeated += 1


def _import_refund(
    session: Session, data: dict[str, str], offer_id: int, line: int, report: ImportReport
) -> None:
    """A refund row: the sale of its order id refunded once per refund_id."""
    fields = {name: data[name] for name in ("order_id", "amount", "refund_id") if name in data}
    try:
        body = RefundRow.model_validate({**fields, "type": REFUND})
        sale = session.scalars(
            select(Conversion.id).where(Conversion.offer_id == offer_id,
                                        Conversion.type == "sale",
                                        Conversion.order_id == body.order_id)
        ).one_or_none()  # fmt: skip
        if sale is None:
            raise Invalid("order_id", f"No sale {body.order_id} of this offer to refund.")
        outcome = refunds.refund(session, sale, body.amount, "import-orders", body.refund_id)
    except (ValidationError, DomainError) as exc:
        session.rollback()
        report.errors.append((line, _row_error(exc)))
        return
    session.commit()  # ends the read a repeat leaves open (an applied refund is committed)
    if outcome.applied:
        report.refunded += 1
    else:
        report.refunds_repeated += 1
