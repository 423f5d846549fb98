"""What a round trip through another identity provider comes to (a session, a second step,
an account to prove, a link), and the words for the ways it can fail, which the person reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway_auth.errors import ExternalSignInFailed
from gateway_auth.i18n import N_
from gateway_auth.models import LinkedIdentity
from gateway_auth.providers.provider import Provider
from gateway_auth.signin.issued import IssuedSession, SecondStep

REFUSALS = {
    "email_missing": N_("{name} did not tell us your email address, which this sign-in needs."),
    "email_unverified": N_(
        "{name} has not verified your email address, so it cannot show "
        "that you belong to an allowed domain."
    ),
    "domain": N_("Accounts with an address at {domain} cannot sign in with {name} here."),
    "group": N_("Your {name} account is not in a group that may sign in here."),
}


@dataclass(frozen=True, slots=True)
class Began:
    """Where to send the browser, and the round trip's cookie."""

    url: str
    trip_token: str


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A session, through the provider."""

    issued: IssuedSession
    return_to: str


@dataclass(frozen=True, slots=True)
class SecondStepDue:
    """The provider vouched; the account's own second factor is still to come."""

    step: SecondStep
    return_to: str


@dataclass(frozen=True, slots=True)
class MustProve:
    """An account has this address: prove it to link the identity (the link's cookie)."""

    link_token: str
    email: str
    provider: Provider
    return_to: str


@dataclass(frozen=True, slots=True)
class Linked:
    """The identity is now (or was already) the signed-in person's."""

    identity: LinkedIdentity
    provider: Provider
    return_to: str


Outcome = SignedIn | SecondStepDue | MustProve | Linked


def provider_error(provider: Provider, params: Mapping[str, str]) -> ExternalSignInFailed:
    error = params.get("error", "")[:100]
    if error == "access_denied":
        return ExternalSignInFailed(
            "cancelled", N_("The sign-in with {name} was cancelled."), error, name=provider.name
        )
    return ExternalSignInFailed(
        "provider_error",
        N_("{name} could not sign you in ({error}). Please try again."),
        f"{error}: {params.get('error_description', '')[:200]}",
        name=provider.name,
        error=error or "-",
    )


def failed(reason: str, provider: Provider, detail: str) -> ExternalSignInFailed:
    messages = {
        "state": N_(
            "The sign-in with {name} took too long, was finished already, or did not start in "
            "this browser. Please try again."
        ),
        "invalid_answer": N_("The answer from {name} could not be verified. Please sign in again."),
        "identity_taken": N_("This {name} account is linked to another account here already."),
    }
    return ExternalSignInFailed(
        reason,  # type: ignore[arg-type]
        messages[reason],
        detail,
        name=provider.name,
    )


def not_a_user(provider: Provider) -> ExternalSignInFailed:
    return ExternalSignInFailed(
        "not_allowed",
        N_("Only user accounts can sign in with {name}; this one is a guest's or a service's."),
        "not a user account",
        name=provider.name,
    )
