"""The demo program: an online shop in RUB, three partners and a few months of clicks."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import random
from decimal import Decimal
from typing import Any

from flask import current_app
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from affiliates.database import utcnow
from affiliates.models import ApiKey, Click, Conversion, Link, Offer, Partner, Payout
from affiliates.services import (
    accounts,
    commission_rules,
    conversions,
    links,
    payout_details,
    payouts,
    program,
    promo_codes,
    refunds,
)
from affiliates.validation import PayoutDetailsIn
from tracking.visitors import VisitorHasher, is_bot

OFFER_SLUG = "romashka-shop"
ADMIN = ("admin@demo.affiliates.local", "demo-admin-pass")
PARTNERS: list[tuple[str, str, str | None, list[tuple[str, str | None, int]]]] = [
    # name, email, password (None: no cabinet login), links as (utm_content, sub_id, weight)
    ("Анна Смирнова — блог о гаджетах", "anna@blog.example", "demo-partner-pass",
     [("youtube-review", "yt-2026-09", 5), ("telegram-post", "tg", 3), ("blog-top10", None, 2)]),
    ("Магазин «Техника на Тверской»", "shop@tverskaya.example", "demo-shop-pass",
     [("qr-at-till", "till-1", 2)]),
    ("ТехноОпт (реселлер)", "sales@technoopt.example", None,
     [("catalogue", "b2b", 2), ("newsletter", "mail-oct", 1)]),
]  # fmt: skip
CODES = [
    ("ANNA10", 0, "percent", Decimal("10"), None, None),
    ("TVERSKAYA500", 1, "amount", Decimal("500.00"), Decimal("3000.00"), None),
    ("OPT15", 2, "percent", Decimal("15"), None, 1000),
]
BROWSERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36 YaBrowser/24.10",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0",
]
BOTS = [
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "TelegramBot (like TwitterBot)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
]
REFERERS = ["https://www.youtube.com/", "https://t.me/", "https://dzen.ru/", "", ""]
DAYS = 90
# One partner per payout method (made-up numbers that pass every check), and whether its
# first payout is already paid (with the bank's reference) or still waits for the bank.
PAYOUT_DETAILS: list[tuple[str, dict[str, str], str | None]] = [
    ("anna@blog.example",
     {"method": "card", "holder_name": "Анна Смирнова", "card_number": "2200 7000 0000 0009"},
     "PP-2026-0412"),
    ("shop@tverskaya.example",
     {"method": "sbp", "holder_name": "ИП Кузнецов Сергей Петрович", "bank_name": "Т-Банк",
      "phone": "8 (912) 345-67-89"},
     None),
    ("sales@technoopt.example",
     {"method": "bank_transfer", "holder_name": "ООО «ТехноОпт»", "bank_name": "ПАО Сбербанк",
      "bic": "044525225", "account_number": "40702810200000012345",
      "correspondent_account": "30101810400000000225", "inn": "7701234560"},
     "PP-2026-0413"),
]  # fmt: skip


def demo_api_key(secret: str) -> str:
    """The demo admin key, derived from SECRET_KEY so it can be printed again."""
    digest = hmac.new(secret.encode(), b"affiliates-demo-admin-key", hashlib.sha256).hexdigest()
    return f"aff_{digest[:12]}_{digest[12:44]}"


def load(session: Session, base_url: str) -> list[str]:
    """Create the demo program once; print how to use it every time."""
    created = session.scalar(select(Offer).where(Offer.slug == OFFER_SLUG)) is None
    if created:
        _create(session)
    # a demo loaded before payout details existed gets them (and its payouts) now, once
    topped_up = not created and _payouts(session)
    key = demo_api_key(current_app.config["SECRET_KEY"])
    prefix = key.split("_")[1]
    if session.scalar(select(ApiKey).where(ApiKey.prefix == prefix)) is None:
        session.add(
            ApiKey(prefix=prefix, key_hash=hashlib.sha256(key.encode()).hexdigest(),
                   name="demo admin key", scope="admin")
        )  # fmt: skip
        session.commit()
    first_link = session.scalar(select(Link).order_by(Link.id))
    if created:
        state = "loaded."
    elif topped_up:
        state = "already loaded; its payout details and payouts added."
    else:
        state = "already loaded; nothing changed."
    lines = ["Demo program " + state, f"  Admin login:    {ADMIN[0]} / {ADMIN[1]}"]
    for _name, email, password, _links in PARTNERS:
        if password:
            lines.append(f"  Partner login:  {email} / {password}")
    if first_link is not None:
        lines.append(f"  A tracked link: {base_url}/r/{first_link.code}")
    lines.append(f"  Stats:          curl -H 'Authorization: Bearer {key}' {base_url}/api/v1/stats")
    counts = dict(
        session.execute(select(Payout.status, func.count()).group_by(Payout.status)).all()
    )
    if counts:
        figures = ", ".join(
            f"{counts[s]} {s}" for s in ("paid", "pending", "failed") if s in counts
        )
        lines.append(f"  Payouts:        {figures} (affiliates payouts list)")
    lines.append("  Demo admin API key:")
    lines.append(key)
    return lines


def _create(session: Session) -> None:
    offer = program.create_offer(
        session,
        {
            "name": "Интернет-магазин «Ромашка»",
            "destination_url": "https://shop.romashka.example/",
            "allowed_domains": ["shop.romashka.example", "romashka.example"],
            "currency": "RUB",
            "target_cac": Decimal("1500.00"),
            "max_discount_percent": Decimal("20"),
        },
    )
    offer.slug = OFFER_SLUG
    accounts.add_staff(session, ADMIN[0], ADMIN[1])
    session.commit()
    partners: list[Partner] = []
    made: list[tuple[Link, int]] = []
    for name, email, password, link_specs in PARTNERS:
        partner = program.create_partner(session, name, email, password, "active")
        partners.append(partner)
        for content, sub_id, weight in link_specs:
            link = links.create_link(
                session, partner.id, offer.id, utm_content=content, sub_id=sub_id,
                destination_url="https://shop.romashka.example/catalog/smartphones"
                if content == "youtube-review" else None,
            )  # fmt: skip
            made.append((link, weight))
    for code, owner, kind, value, min_order, max_uses in CODES:
        promo_codes.create_promo_code(
            session,
            {"code": code, "partner_id": partners[owner].id, "offer_id": offer.id,
             "discount_type": kind, "discount_value": value, "min_order_amount": min_order,
             "max_uses": max_uses, "max_uses_per_customer": None, "valid_from": None,
             "valid_until": None},
        )  # fmt: skip
    clicks = _clicks(session, made)
    _rules(session, offer)
    _conversions(session, offer, partners, clicks)
    _payouts(session)


def _clicks(session: Session, made: list[tuple[Link, int]]) -> list[dict[str, Any]]:
    """A few months of clicks: weekly rhythm, growth, returning visitors and some bots."""
    rng = random.Random(2026)  # noqa: S311 - demo data, not security
    hasher = VisitorHasher(current_app.config["IP_HASH_KEY"])
    visitors = [
        (
            f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            rng.choice(BROWSERS),
        )
        for _ in range(4000)
    ]
    end = utcnow().replace(minute=0, second=0, microsecond=0)
    rows = []
    for day in range(DAYS, 0, -1):
        date = end - dt.timedelta(days=day)
        growth = 1 + (DAYS - day) / DAYS
        weekend = 1.4 if date.weekday() >= 5 else 1.0
        for link, weight in made:
            for _ in range(int(rng.gauss(9, 3) * weight * growth * weekend)):
                if rng.random() < 0.05:
                    ip, agent = (
                        f"66.249.{rng.randrange(64, 80)}.{rng.randrange(255)}",
                        rng.choice(BOTS),
                    )
                else:
                    ip, agent = rng.choice(visitors)
                bot = is_bot(agent)
                at = date + dt.timedelta(seconds=rng.randrange(86_400))
                rows.append(
                    {
                        "id": f"demo{rng.getrandbits(96):024x}",
                        "link_id": link.id, "partner_id": link.partner_id,
                        "offer_id": link.offer_id, "created_at": at,
                        "ip_hash": hasher.ip_hash(ip), "visitor_key": hasher.visitor_key(ip, agent),
                        "user_agent": agent, "referer": rng.choice(REFERERS),
                        "utm_source": link.utm_source, "utm_medium": link.utm_medium,
                        "utm_campaign": link.utm_campaign, "utm_content": link.utm_content,
                        "utm_term": None, "sub_id": link.sub_id,
                        "params": json.dumps({"demo": "1"}) if rng.random() < 0.02 else None,
                        "is_bot": bot, "attributable": not bot,
                    }
                )  # fmt: skip
    for start in range(0, len(rows), 5000):
        session.execute(insert(Click), rows[start : start + 5000])
    session.commit()
    return rows


def _rules(session: Session, offer: Offer) -> None:
    """Terms written from what a customer may cost: a share of the first order capped at
    the target CAC, less for returning customers, a lead bounty with a tier for the best."""
    terms = [
        {"offer_id": offer.id, "type": "sale", "kind": "percent", "value": Decimal("12"),
         "new_customers_only": True, "priority": 10},
        {"offer_id": offer.id, "type": "sale", "kind": "percent", "value": Decimal("4"),
         "cap": Decimal("800.00")},
        {"offer_id": offer.id, "type": "lead", "kind": "fixed", "value": Decimal("150.00"),
         "tiers": [{"min_conversions": 20, "value": "250.00"}]},
    ]  # fmt: skip
    for values in terms:
        commission_rules.create(session, values, actor="demo")


def _conversions(
    session: Session, offer: Offer, partners: list[Partner], clicks: list[dict[str, Any]]
) -> None:
    """About 2% of human clicks buy; the shop's till sells with its code; some refund;
    a few arrive suspiciously fast; older ones are approved after their hold."""
    rng = random.Random(7)  # noqa: S311 - demo data, not security
    secret = current_app.config["IP_HASH_KEY"]
    bind = session.get_bind().engine  # the intake works on a connection of its own
    now = utcnow()
    humans = [c for c in clicks if not c["is_bot"]]
    made: list[int] = []
    for n, click in enumerate(rng.sample(humans, k=len(humans) // 50)):
        fast = rng.random() < 0.04
        delay = (
            dt.timedelta(seconds=rng.randrange(2, 8))
            if fast
            else dt.timedelta(minutes=rng.randrange(3, 600))
        )
        occurred = min(click["created_at"] + delay, now)
        lead = rng.random() < 0.15
        data: dict[str, Any] = {
            "offer_id": offer.id,
            "type": "lead" if lead else "sale",
            "order_id": f"WEB-{10_000 + n}",
            "amount": Decimal("0.00") if lead else Decimal(rng.randrange(900, 25_000)),
            "click_id": click["id"],
            "customer_id": f"cust-{rng.randrange(1500)}",
            "occurred_at": occurred,
            "new_customer": rng.random() < 0.6,
        }
        if not lead and rng.random() < 0.25:
            data["promo_code"] = "ANNA10" if click["partner_id"] == partners[0].id else "OPT15"
        made.append(
            conversions.record(bind, data, actor="demo", secret=secret, now=now).conversion.id
        )
    for n in range(120):  # the shop's till: offline sales with its promo code, no click
        occurred = now - dt.timedelta(days=rng.randrange(1, DAYS), hours=rng.randrange(24))
        data = {
            "offer_id": offer.id,
            "order_id": f"TILL-{5_000 + n}",
            "amount": Decimal(rng.randrange(3_000, 40_000)),
            "promo_code": "TVERSKAYA500" if rng.random() < 0.6 else None,
            "occurred_at": occurred,
        }
        made.append(
            conversions.record(bind, data, actor="demo", secret=secret, now=now).conversion.id
        )
    for conversion_id in rng.sample(made, k=len(made) // 12):  # refunds, full and partial
        conversion = session.get_one(Conversion, conversion_id)
        if conversion.type != "sale" or conversion.status != "pending":
            continue
        amount = None if rng.random() < 0.6 else (conversion.amount / 3).quantize(Decimal("1"))
        refunds.refund(session, conversion_id, amount, actor="demo",
                       refund_id=f"demo-refund-{conversion_id}")  # fmt: skip
    conversions.approve_due(session, now, actor="demo")


def _payouts(session: Session) -> bool:
    """Payout details for each demo partner, then a payout run, the way staff would do it:
    approved commissions become payouts, some of which the bank has already paid.

    Does nothing (and answers False) once the demo partners have payout details.
    """
    partners = {p.email: p for p in session.scalars(select(Partner).where(
        Partner.email.in_([email for email, _, _ in PAYOUT_DETAILS])))}  # fmt: skip
    if len(partners) != len(PAYOUT_DETAILS) or any(
        payout_details.find(session, p.id) is not None for p in partners.values()
    ):
        return False
    now = utcnow()
    for email, raw, _reference in PAYOUT_DETAILS:
        values = PayoutDetailsIn.model_validate(raw).root.model_dump()
        method = values.pop("method")
        payout_details.save(session, partners[email].id, method, values, "demo", now)
    result = payouts.run(session, None, current_app.config["PAYOUT_MIN_AMOUNT"], "demo", now)
    references = {partners[email].id: ref for email, _, ref in PAYOUT_DETAILS}
    for made in result.made:
        reference = references.get(made.payout.partner_id)
        if reference is not None:
            payouts.mark_paid(session, made.payout.id, reference, "demo", now)
    return True
