"""factory_boy factories for test data, committed through the app's session."""

from __future__ import annotations

from decimal import Decimal

import factory
from factory.alchemy import SQLAlchemyModelFactory

from affiliates.extensions import db
from affiliates.models import Link, Offer, Partner, PayoutDetails, PromoCode
from affiliates.services import api_keys


class _Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "commit"


class OfferFactory(_Base):
    class Meta:
        model = Offer

    name = factory.Sequence(lambda n: f"Shop {n}")
    slug = factory.Sequence(lambda n: f"shop-{n}")
    destination_url = "https://shop.example.com/"
    allowed_domains = factory.LazyFunction(lambda: ["shop.example.com"])
    currency = "RUB"
    attribution_window_days = 30
    hold_days = 30
    min_click_to_conversion_seconds = 10
    attribution_priority = factory.LazyFunction(lambda: ["promo_code", "click", "utm", "customer"])
    status = "active"


class PartnerFactory(_Base):
    class Meta:
        model = Partner

    name = factory.Sequence(lambda n: f"Partner {n}")
    email = factory.Sequence(lambda n: f"partner{n}@example.com")
    ref_code = factory.Sequence(lambda n: f"ref{n:04d}")
    status = "active"


class PayoutDetailsFactory(_Base):
    """A card to pay a partner to (the test card number 4111 1111 1111 1111)."""

    class Meta:
        model = PayoutDetails

    partner = factory.SubFactory(PartnerFactory)
    partner_id = factory.SelfAttribute("partner.id")
    method = "card"
    holder_name = factory.SelfAttribute("partner.name")
    card_number = "4111111111111111"

    @classmethod
    def _adjust_kwargs(cls, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.pop("partner", None)
        return kwargs


class PayablePartnerFactory(PartnerFactory):
    """A partner with payout details, so payout runs pay it."""

    payout_details = factory.RelatedFactory(PayoutDetailsFactory, factory_related_name="partner")


class LinkFactory(_Base):
    class Meta:
        model = Link

    code = factory.Sequence(lambda n: f"lnk{n:05d}")
    partner = factory.SubFactory(PartnerFactory)
    offer = factory.SubFactory(OfferFactory)
    partner_id = factory.SelfAttribute("partner.id")
    offer_id = factory.SelfAttribute("offer.id")
    destination_url = "https://shop.example.com/item?color=red"
    utm_source = factory.SelfAttribute("partner.ref_code")
    utm_medium = "affiliate"
    utm_campaign = factory.SelfAttribute("offer.slug")

    class Params:
        pass

    @classmethod
    def _adjust_kwargs(cls, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.pop("partner", None)
        kwargs.pop("offer", None)
        return kwargs


class PromoCodeFactory(_Base):
    class Meta:
        model = PromoCode

    code = factory.Sequence(lambda n: f"CODE{n}")
    code_key = factory.LazyAttribute(lambda o: PromoCode.key_for(o.code))
    partner = factory.SubFactory(PartnerFactory)
    offer = factory.SubFactory(OfferFactory)
    partner_id = factory.SelfAttribute("partner.id")
    offer_id = factory.SelfAttribute("offer.id")
    discount_type = "percent"
    discount_value = Decimal("10.00")
    uses = 0
    active = True

    @classmethod
    def _adjust_kwargs(cls, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.pop("partner", None)
        kwargs.pop("offer", None)
        return kwargs


def partner_key(partner: Partner) -> str:
    """A partner-scoped API key for `partner`."""
    return api_keys.issue(db.session, "partner", partner_id=partner.id)
