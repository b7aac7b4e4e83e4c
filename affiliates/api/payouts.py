"""The ledger (balances, manual adjustments), payout details and payouts (admin; partners
see, and set, their own)."""

from __future__ import annotations

from flask import Response, current_app
from sqlalchemy import select

from affiliates.api.core import Principal, endpoint, paginate
from affiliates.api.schemas import (
    AdjustmentIn,
    BalanceFigures,
    BalanceOut,
    LedgerEntryOut,
    MarkFailedIn,
    MarkPaidIn,
    Page,
    PayoutDetailOut,
    PayoutDetailsIn,
    PayoutDetailsOut,
    PayoutExportQuery,
    PayoutOut,
    PayoutQuery,
    PayoutRunIn,
    PayoutRunOut,
    SkippedOut,
)
from affiliates.exceptions import NotFound
from affiliates.extensions import db
from affiliates.models import Payout, PayoutDetails
from affiliates.services import ledger, payout_details, payouts


def _own(principal: Principal) -> int | None:
    """The partner a partner key is bound to; None for staff."""
    return principal.partner_id if principal.scope == "partner" else None


def _out(payout: Payout, count: int | None = None) -> PayoutOut:
    if count is None:
        count = payouts.conversion_count(db.session, payout.id)
    return PayoutOut.model_validate({**_fields(payout), "conversion_count": count})


def _fields(payout: Payout) -> dict[str, object]:
    names = ("id", "partner_id", "amount", "currency", "status", "reference", "reason",
             "created_at", "paid_at")  # fmt: skip
    return {**{name: getattr(payout, name) for name in names},
            "payout_details": payouts.masked_details(payout)}  # fmt: skip


def _check_own(principal: Principal, partner_id: int) -> None:
    """A partner key reaches only its own partner; another's answers 404, as if unknown."""
    own = _own(principal)
    if own is not None and own != partner_id:
        raise NotFound(f"Partner {partner_id} does not exist.")


def _details_out(details: PayoutDetails) -> PayoutDetailsOut:
    return PayoutDetailsOut.model_validate(
        {**payout_details.masked(details), "partner_id": details.partner_id,
         "updated_at": details.updated_at}
    )  # fmt: skip


@endpoint("/partners/<int:partner_id>/payout-details", summary="A partner's payout details",
          scopes=("partner",), response=PayoutDetailsOut)  # fmt: skip
def get_payout_details(principal: Principal, partner_id: int) -> PayoutDetailsOut:
    """How the partner is paid; card and account numbers and the phone masked."""
    _check_own(principal, partner_id)
    return _details_out(payout_details.get(db.session, partner_id))


@endpoint("/partners/<int:partner_id>/payout-details", "PUT", summary="Set payout details",
          scopes=("partner",), body=PayoutDetailsIn, response=PayoutDetailsOut)  # fmt: skip
def put_payout_details(
    principal: Principal, partner_id: int, body: PayoutDetailsIn
) -> PayoutDetailsOut:
    """Create or replace how the partner is paid; every change is audited (numbers masked).
    Payouts already made keep the details they were made with."""
    _check_own(principal, partner_id)
    values = body.root.model_dump()
    method = values.pop("method")
    details = payout_details.save(db.session, partner_id, method, values, principal.actor,
                                  current_app.extensions["clock"]())  # fmt: skip
    return _details_out(details)


@endpoint("/partners/<int:partner_id>/adjustments", "POST", summary="Adjust a partner's balance",
          body=AdjustmentIn, response=LedgerEntryOut, status=201)  # fmt: skip
def create_adjustment(principal: Principal, partner_id: int, body: AdjustmentIn) -> LedgerEntryOut:
    """A manual ledger entry (a bonus or a correction down), audited."""
    entry = ledger.adjust(db.session, partner_id, body.amount, body.currency, body.memo,
                          principal.actor)  # fmt: skip
    return LedgerEntryOut.model_validate(entry)


@endpoint("/partners/<int:partner_id>/balance", summary="A partner's balance",
          scopes=("partner",), response=BalanceOut)  # fmt: skip
def get_balance(principal: Principal, partner_id: int) -> BalanceOut:
    """Per currency: unpaid, in a pending payout, and paid."""
    _check_own(principal, partner_id)
    sums = ledger.balances(db.session, partner_id)
    return BalanceOut(
        partner_id=partner_id,
        balances={code: BalanceFigures(**figures) for code, figures in sums.items()},
    )


@endpoint("/payouts/run", "POST", summary="Run payouts", body=PayoutRunIn, body_optional=True,
          response=PayoutRunOut, status=201)  # fmt: skip
def run_payouts(principal: Principal, body: PayoutRunIn) -> PayoutRunOut:
    """One payout per partner and currency whose unpaid balance reaches the threshold; a
    partner without payout details is listed under `skipped` and its balance waits."""
    threshold = body.min_amount or current_app.config["PAYOUT_MIN_AMOUNT"]
    result = payouts.run(db.session, body.currency, threshold, principal.actor,
                         current_app.extensions["clock"]())  # fmt: skip
    return PayoutRunOut(
        items=[_out(m.payout, m.conversion_count) for m in result.made],
        skipped=[SkippedOut.model_validate(s, from_attributes=True) for s in result.skipped],
    )


@endpoint("/payouts", summary="List payouts", scopes=("partner",), query=PayoutQuery,
          response=Page[PayoutOut])  # fmt: skip
def list_payouts(principal: Principal, query: PayoutQuery) -> Page[PayoutOut]:
    """Payouts, newest first; a partner sees only its own."""
    stmt = select(Payout)
    partner_id = _own(principal) or query.partner_id
    if partner_id is not None:
        stmt = stmt.where(Payout.partner_id == partner_id)
    if query.status is not None:
        stmt = stmt.where(Payout.status == query.status)
    rows, cursor = paginate(db.session, stmt, Payout.id, query.limit, query.cursor)
    return Page[PayoutOut](items=[_out(p) for p in rows], next_cursor=cursor)


@endpoint("/payouts/<int:payout_id>", summary="A payout and its statement", scopes=("partner",),
          response=PayoutDetailOut)  # fmt: skip
def get_payout(principal: Principal, payout_id: int) -> PayoutDetailOut:
    """The payout with the ledger entries (conversions and adjustments) it pays."""
    payout = payouts.get(db.session, payout_id, _own(principal))
    entries = payouts.entries(db.session, payout_id)
    count = len({e.conversion_id for e in entries if e.conversion_id is not None})
    return PayoutDetailOut.model_validate(
        {**_fields(payout), "conversion_count": count,
         "entries": [LedgerEntryOut.model_validate(e) for e in entries]}
    )  # fmt: skip


@endpoint("/payouts/<int:payout_id>/mark-paid", "POST", summary="Mark a payout paid",
          body=MarkPaidIn, response=PayoutOut)  # fmt: skip
def mark_paid(principal: Principal, payout_id: int, body: MarkPaidIn) -> PayoutOut:
    """Pending becomes paid, with the bank's reference; audited."""
    payout = payouts.mark_paid(db.session, payout_id, body.reference, principal.actor,
                               current_app.extensions["clock"]())  # fmt: skip
    return _out(payout)


@endpoint("/payouts/<int:payout_id>/mark-failed", "POST", summary="Mark a payout failed",
          body=MarkFailedIn, response=PayoutOut)  # fmt: skip
def mark_failed(principal: Principal, payout_id: int, body: MarkFailedIn) -> PayoutOut:
    """Pending becomes failed; its entries return to the partner's unpaid balance."""
    payout = payouts.mark_failed(db.session, payout_id, body.reason, principal.actor)
    return _out(payout, 0)


@endpoint("/payouts/export.csv", summary="Bank registry of payouts", query=PayoutExportQuery,
          content_type="text/csv")  # fmt: skip
def export_payouts(_p: Principal, query: PayoutExportQuery) -> Response:
    """A CSV registry for the bank: the payout id is the payment reference; method and
    details are each payout's snapshot, in full."""
    return Response(
        payouts.registry_csv(db.session, query.status),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=payouts-{query.status}.csv"},
    )
