"""A form field runs the same domain check as the API, and shows its message."""

from __future__ import annotations

from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import DecimalField, Form, StringField
from wtforms.validators import InputRequired, Optional

from affiliates import validation
from affiliates.validation.forms import checked


class PayoutRunForm(Form):
    currency = StringField(validators=[InputRequired(), checked(validation.currency)])
    min_amount = DecimalField(validators=[Optional(), checked(validation.positive_money)])


def test_a_form_field_takes_the_checks_normalised_value():
    form = PayoutRunForm(MultiDict({"currency": "rub", "min_amount": "1000.00"}))
    assert form.validate(), form.errors
    assert form.data == {"currency": "RUB", "min_amount": validation.money("1000.00")}


def test_a_form_field_shows_the_checks_message_as_its_error():
    form = PayoutRunForm(MultiDict({"currency": "XYZ", "min_amount": "0"}))
    assert not form.validate()
    assert form.errors == {
        "currency": ["Not an ISO 4217 currency code."],
        "min_amount": ["Out of range: above 0, up to 1000000000000."],
    }


def test_an_optional_field_left_empty_is_not_checked():
    form = PayoutRunForm(MultiDict({"currency": "EUR"}))
    assert form.validate(), form.errors
    assert form.min_amount.data is None


def test_a_flask_wtf_form_runs_a_payout_detail_check(app):
    class CardForm(FlaskForm):
        card_number = StringField(validators=[InputRequired(), checked(validation.card_number)])

    with app.test_request_context():
        good = CardForm(MultiDict({"card_number": "2200 7000 0000 0009"}), meta={"csrf": False})
        assert good.validate(), good.errors
        assert good.card_number.data == "2200700000000009"
        typo = CardForm(MultiDict({"card_number": "2200 7000 0000 0008"}), meta={"csrf": False})
        assert not typo.validate()
        assert typo.errors == {
            "card_number": ["The card number fails its check digit (Luhn): is there a typo?"]
        }
