"""The ledger (balances, manual adjustments), payout details and payouts (admin; partners
see, and set, their own)."""

from __future__ import annotations

from flask import Response, current_app

from affiliates.api.core import Principal, endpoint
from affiliates.api.schemas import (
    AdjustmentIn,
    BalanceFigures,
    BalanceOut,
    LedgerEntryOut,
    LedgerEntryQuery,
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
from affiliates.extensions import db
from affiliates.models import Payout, PayoutDetails
from affiliates.services import ledger, payout_details, payouts


def _out(payout: Payout, count: int | None = None) -> PayoutOut:
    if count is None:
        count = payouts.conversion_count(db.session, payout.id)
    return PayoutOut.model_validate({**_fields(payout), "conversion_count": count})


def _fields(payout: Payout) -> dict[str, object]:
    names = ("id", "partner_id", "amount", "currency", "status", "reference", "reason",
             "created_at", "paid_at")  # fmt: skip
    return {**{name: getattr(payout, name) for name in names},
            "payout_details": payouts.masked_details(payout)}  # fmt: skip


def _details_out(details: PayoutDetails) -> PayoutDetailsOut:
    return PayoutDetailsOut.model_validate(
        {**payout_details.masked(details), "partner_id": details.partner_id,
         "updated_at": details.updated_at}
    )  # fmt: skip


@endpoint("/partners/<int:partner_id>/payout-details", summary="A partner's payout details",
          scopes=("partner",), response=PayoutDetailsOut)  # fmt: skip
def get_payout_details(principal: Principal, partner_id: int) -> PayoutDetailsOut:
    """How the partner is paid; card and account numbers and the phone masked."""
    return _details_out(payout_details.get(db.session, partner_id, principal.viewer))


@endpoint("/partners/<int:partner_id>/payout-details", "PUT", summary="Set payout details",
          scopes=("partner",), body=PayoutDetailsIn, response=PayoutDetailsOut)  # fmt: skip
def put_payout_details(
    principal: Principal, partner_id: int, body: PayoutDetailsIn
) -> PayoutDetailsOut:
    """Create or replace how the partner is paid; every change is audited (numbers masked).
    Payouts already made keep the details they were made with."""
    principal.viewer.acting_for(partner_id)  # another partner's answers 404, as if unknown
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
    sums = ledger.balances(db.session, partner_id, principal.viewer)
    return BalanceOut(
        partner_id=partner_id,
        balances={code: BalanceFigures(**figures) for code, figures in sums.items()},
    )


@endpoint("/ledger-entries", summary="List ledger entries", scopes=("partner",),
          query=LedgerEntryQuery, response=Page[LedgerEntryOut])  # fmt: skip
def list_ledger_entries(principal: Principal, query: LedgerEntryQuery) -> Page[LedgerEntryOut]:
    """Commissions, reversals and adjustments, newest first; a partner key sees its own only
    (its `partner_id` is its own, whatever it asks, as on every list)."""
    filters = ledger.LedgerFilters(partner_id=query.partner_id, currency=query.currency,
                                   kind=query.kind)  # fmt: skip
    page = ledger.list_ledger_entries(db.session, filters, principal.viewer, limit=query.limit,
                                      cursor=query.cursor)  # fmt: skip
    return Page[LedgerEntryOut](items=[LedgerEntryOut.model_validate(e) for e in page.items],
                                next_cursor=page.next_cursor)  # fmt: skip


@endpoint("/payouts/run", "POST", summary="Run payouts", body=PayoutRunIn, body_optional=True,
          response=PayoutRunOut, status=201)  # fmt: skip
def run_payouts(principal: Principal, body: PayoutRunIn) -> PayoutRunOut:
    """One payout per partner and currency whose unpaid balance reaches the threshold; a
    partner without payout details, or suspended, is listed under `skipped` and its
    balance waits."""
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
    filters = payouts.PayoutFilters(partner_id=query.partner_id, status=query.status)
    page = payouts.list_payouts(db.session, filters, principal.viewer, limit=query.limit,
                                cursor=query.cursor)  # fmt: skip
    return Page[PayoutOut](items=[_out(p) for p in page.items], next_cursor=page.next_cursor)


@endpoint("/payouts/<int:payout_id>", summary="A payout and its statement", scopes=("partner",),
          response=PayoutDetailOut)  # fmt: skip
def get_payout(principal: Principal, payout_id: int) -> PayoutDetailOut:
    """The payout with the ledger entries (conversions and adjustments) it pays."""
    payout = payouts.get(db.session, payout_id, principal.viewer)
    entries = payouts.entries(db.session, payout_id)
    count = len({e.conversion_id for e in entries if e.conversion_id is not None})
    return PayoutDetailOut.model_validate(
        {**_fields(payout), "conversion_count": count,
         "entries": [LedgerEntryOut.model_validate(e) for e in entries]}
    )  # fmt: skip


@endpoint("/payouts/<int:payout_id>/mark-paid", "POST", summary="Mark a payout paid",
          body=MarkPaidIn, response=PayoutOut,
          responses={409: "The payout is no longer pending"})  # fmt: skip
def mark_paid(principal: Principal, payout_id: int, body: MarkPaidIn) -> PayoutOut:
    """Pending becomes paid, with the bank's reference; audited."""
    payout = payouts.mark_paid(db.session, payout_id, body.reference, principal.actor,
                               current_app.extensions["clock"]())  # fmt: skip
    return _out(payout)


@endpoint("/payouts/<int:payout_id>/mark-failed", "POST", summary="Mark a payout failed",
          body=MarkFailedIn, response=PayoutOut,
          responses={409: "The payout is no longer pending"})  # fmt: skip
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
