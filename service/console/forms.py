"""The console's forms. Labels are the contract's (API.md, Console); every
form carries Flask-WTF's CSRF token. What a value may be is decided by the
REST schemas and the services, not here: these only carry the text."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.validators import InputRequired

from service.domain.accounts import AccountStatus


class SignInForm(FlaskForm):  # type: ignore[misc]
    api_key = PasswordField("API key", validators=[InputRequired("Enter an API key.")])


class StatusForm(FlaskForm):  # type: ignore[misc]
    status = SelectField(
        "Status",
        choices=[s.value for s in AccountStatus if s is not AccountStatus.ARCHIVED],
    )
    reason = StringField("Reason")


class ReviewForm(FlaskForm):  # type: ignore[misc]
    reason = StringField("Reason")


class SignOutForm(FlaskForm):  # type: ignore[misc]
    """Only the CSRF token: signing out is a POST, so no other site can do it."""


class ReplayForm(FlaskForm):  # type: ignore[misc]
    """Replay a webhook endpoint's events after a sequence; the number itself is
    checked by the API's ReplaySchema, so both entry points refuse the same input."""

    after = StringField("After sequence", validators=[InputRequired("Enter a sequence.")])
