"""Domain failures: one exception per thing that can go wrong, under one base.

They carry no HTTP knowledge; ``gateway_auth.http.problems`` maps each to a response, once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from gateway_auth.i18n import N_


class GatewayAuthError(Exception):
    """Base of every expected failure; its message is safe to show to the caller."""

    default_message = N_("The request could not be completed.")

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)

    @property
    def message(self) -> str:
        """The user-facing explanation."""
        return str(self.args[0])


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one input field."""

    field: str
    message: str


class ValidationFailed(GatewayAuthError):
    """Well-formed input whose fields break the rules (422)."""

    default_message = N_("Some fields are invalid.")

    def __init__(self, errors: Iterable[FieldError]) -> None:
        super().__init__()
        self.errors = tuple(errors)


class MalformedRequest(GatewayAuthError):
    """A body or parameter that cannot be parsed at all (400)."""


class UnsupportedMediaType(GatewayAuthError):
    """A body in a content type the route does not accept (415)."""

    def __init__(self, accepted: tuple[str, ...]) -> None:
        super().__init__(f"Send the body as {' or '.join(accepted)}.")
        self.accepted = accepted


class PayloadTooLarge(GatewayAuthError):
    """A body over the size limit (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body must not exceed {limit} bytes.")
        self.limit = limit


class InvalidCredentials(GatewayAuthError):
    """Login refused. Deliberately one message for every reason, so accounts cannot be probed."""

    default_message = N_("Invalid email or password.")


class Unauthenticated(GatewayAuthError):
    """No usable access token: missing, invalid, expired, revoked, or its client is gone."""

    default_message = N_("Authentication is required.")


class ClientSuspended(GatewayAuthError):
    """The token is valid but its client is suspended."""

    default_message = N_("This account is suspended.")


class InsufficientScope(GatewayAuthError):
    """The token is valid but lacks a scope the route requires."""

    default_message = N_("The access token lacks a required scope.")


class AccessDenied(GatewayAuthError):
    """An access rule refuses the request, whoever asks."""

    default_message = N_("No access rule lets this request through.")


class AmbiguousRequest(GatewayAuthError):
    """With access rules, the original request's host, path or method cannot be known for sure:
    an encoded slash, a control character, an invalid encoding, no trusted description, or a
    method-override header when a rule decides by method."""

    default_message = N_(
        "The request's host, path or method cannot be read without guessing (or the gateway did"
        " not describe the original request), so no access rule can decide it."
    )


class RevocationStateStale(GatewayAuthError):
    """The revocation mirror lost its source for longer than MAX_STALENESS: fail closed."""

    default_message = N_("Revocation state is out of date; retry shortly.")


class ClientNotFound(GatewayAuthError):
    """No live client has this id."""

    default_message = N_("No such client.")


class InvalidClient(GatewayAuthError):
    """Client authentication at ``/token`` failed: unknown id, wrong secret, not a service."""

    default_message = N_("Client authentication failed.")


class NotAServiceClient(GatewayAuthError):
    """Only service clients have a client secret."""

    default_message = N_("Only service clients have a client secret.")


class InvalidRefreshToken(GatewayAuthError):
    """The refresh token is unknown, expired, revoked or was already used."""

    default_message = N_("The refresh token is invalid or expired; log in again.")


class RefreshTokenSuperseded(InvalidRefreshToken):
    """The token was rotated a moment ago by a concurrent request: a race, not a theft."""

    default_message = N_("This refresh token was just rotated by another request; use the new one.")


class WrongPassword(GatewayAuthError):
    """The current password given to confirm a sensitive change is wrong."""

    default_message = N_("The current password is incorrect.")


class CrossSiteRequest(GatewayAuthError):
    """A state change a browser sent from an origin that is not allowed (CSRF defence)."""

    default_message = N_(
        "This request came from another site or an unknown origin, so it was refused."
    )


class UnsupportedVersion(GatewayAuthError):
    """A request line naming HTTP/0.9 or HTTP/2.0 over this HTTP/1.x listener (llhttp reads
    those two; it refuses other versions as malformed)."""

    default_message = N_("Only HTTP/1.0 and HTTP/1.1 are served here.")


class FaultyFraming(GatewayAuthError):
    """An HTTP/1.0 request with Transfer-Encoding: RFC 9112 section 6.1 calls its framing
    faulty, and the connection must close after the answer."""

    default_message = N_("An HTTP/1.0 request cannot use Transfer-Encoding.")


class UnknownHost(GatewayAuthError):
    """A browser's request for a host no entry of DOMAINS_FILE serves."""

    default_message = N_(
        "This address is not one this sign-in service serves. Check the address, or ask the"
        " people who run the site."
    )


class CrossingRefused(GatewayAuthError):
    """A sign-in carried from another domain that cannot be used here (expired, spent, for
    another domain, or in another browser); ``reason`` is for the log only."""

    default_message = N_(
        "Your sign-in could not be carried over from the other site. Please sign in here."
    )

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class FormTokenInvalid(GatewayAuthError):
    """A form without its anti-CSRF token, or with one that does not match the browser's."""

    default_message = N_("This form has expired or did not come from this site; reload the page.")


class RegistrationClosed(GatewayAuthError):
    """Self-registration is turned off."""

    default_message = N_("Registration is closed; ask an administrator for an account.")


class EmailTaken(GatewayAuthError):
    """Another client already uses this email address."""

    default_message = N_("This email address is already registered.")


class LinkInvalid(GatewayAuthError):
    """A mailed link's token that is unknown, replaced by a newer one, or for someone gone."""

    default_message = N_(
        "Only the newest link works, and only for the address it was sent to. Ask for a new one."
    )


class LinkExpired(LinkInvalid):
    """A mailed link's token past its expiry."""

    default_message = N_("Links work for a limited time. Ask for a new one.")


class LinkUsed(LinkInvalid):
    """A mailed link's token that was used already (each works once)."""

    default_message = N_("Each link works once. Ask for a new one if you still need it.")


class EmailUnverified(GatewayAuthError):
    """REQUIRE_VERIFIED_EMAIL is on and the client has not verified its email address."""

    default_message = N_(
        "Verify your email address first: follow the link we sent, or ask for a new one."
    )


class GuestsClosed(GatewayAuthError):
    """GUESTS is off: nobody may start as a guest."""

    default_message = N_("Guest access is not offered here; create an account instead.")


class NotAGuest(GatewayAuthError):
    """Only a guest can be upgraded to an account."""

    default_message = N_("This client is not a guest; it has an account already.")


class ReauthenticationRequired(GatewayAuthError):
    """A required scope is elevated (ELEVATED_SCOPES) and not in force for this session."""

    default_message = N_(
        "This needs a fresh confirmation of your password: re-authenticate (POST /me/elevate) "
        "and try again."
    )


class SecondFactorRequired(GatewayAuthError):
    """The password was right and the account has a second factor: the sign-in goes on at
    ``POST /login/second-factor`` in the same browser (no token, no session yet)."""

    default_message = N_(
        "This account has a second factor: send a code from the authenticator app (or a "
        "recovery code) to POST /login/second-factor within five minutes."
    )


class WrongCode(GatewayAuthError):
    """A second-factor or recovery code that is wrong, already used, or out of time."""

    default_message = N_("The code is incorrect or was already used.")


class CodesLocked(GatewayAuthError):
    """Too many wrong codes in a row for this account's app (NIST SP 800-63B 5.2.2): only a
    recovery code, or an operator's reset, opens it again."""

    default_message = N_(
        "Too many wrong codes for this account's authenticator app. Sign in with one of your "
        "recovery codes, or ask an administrator to reset two-step sign-in."
    )


class SignInExpired(GatewayAuthError):
    """No half-finished sign-in in this browser, or it is older than five minutes."""

    default_message = N_("The sign-in took too long or did not start here; sign in again.")


class SecondFactorEnrolmentRequired(GatewayAuthError):
    """SECOND_FACTOR=required: this user has no second factor yet (or its session predates
    it), and nothing is let through until one is added."""

    default_message = N_(
        "Every account here signs in with a second factor: add a passkey or an authenticator "
        "app on the account's two-step sign-in page, then try again."
    )


class MultiFactorRequired(GatewayAuthError):
    """A ``two_factor`` access rule, and a session proved by one factor only."""

    default_message = N_(
        "This needs a session proved with a second factor: confirm with a passkey or a code on "
        "the /elevate page (or add one first), then try again."
    )


class CeremonyExpired(GatewayAuthError):
    """A passkey's answer to a challenge this server did not hand to this browser or session,
    one already answered, or one older than five minutes."""

    default_message = N_("The passkey request took too long or was already used; try again.")


class PasskeyRefused(GatewayAuthError):
    """A passkey's answer that does not hold: an unknown credential, another account's, a bad
    signature, another site's origin or RP ID, no user verification, or a counter that went
    back (a cloned authenticator). One answer for all, the reason is logged."""

    default_message = N_("That passkey was not accepted. Try again, or sign in another way.")


class PasskeyExists(GatewayAuthError):
    """The authenticator already holds a passkey registered here."""

    default_message = N_("This passkey is already registered.")


class PasskeyNotFound(GatewayAuthError):
    """The account has no passkey of that id."""

    default_message = N_("There is no such passkey on this account.")


class SecondFactorsOff(GatewayAuthError):
    """SECOND_FACTOR=off: no enrolment, no second step."""

    default_message = N_("Second factors are turned off on this server.")


class FactorExists(GatewayAuthError):
    """An authenticator app is already set up; remove it before adding another."""

    default_message = N_(
        "An authenticator app is already set up for this account; remove it first."
    )


class SecretsUnreadable(GatewayAuthError):
    """A sealed second-factor secret does not open with ENCRYPTION_KEY (a changed key)."""

    default_message = N_(
        "The server cannot read second-factor secrets right now; its operator has been told."
    )


ExternalFailure = Literal[
    "unreachable",  # the provider did not answer, or not as the standards say (502)
    "cancelled",  # the person said no at the provider (access_denied)
    "provider_error",  # the provider answered the authorization with another error
    "state",  # no round trip of this browser's to finish, or a tampered or spent one
    "invalid_answer",  # a code, ID token or logout token that does not verify
    "not_allowed",  # the provider's policy keeps this person out
    "no_account",  # no account, and this provider may not create one
    "identity_taken",  # the identity is linked to another account already
    "suspended",  # the account it signs in to is suspended
]


class ExternalSignInFailed(GatewayAuthError):
    """A sign-in, link or logout through another identity provider that cannot go on; never
    an account created or a link half made. ``detail`` is for the log only."""

    def __init__(
        self,
        reason: ExternalFailure,
        message: str,
        detail: str = "",
        **params: str,
    ) -> None:
        # ``message`` is a marked message with ``{name}``-style fields, filled from
        # ``params``; a page translates the message first, then fills it.
        super().__init__(message.format(**params) if params else message)
        self.reason = reason
        self.detail = detail
        self.template = message
        self.params = params

    def words(self, gettext: Callable[[str], str]) -> str:
        """The message in a person's language."""
        template = gettext(self.template)
        return template.format(**self.params) if self.params else template


class ProviderNotFound(GatewayAuthError):
    """No identity provider of that id in IDENTITY_PROVIDERS_FILE."""

    default_message = N_("There is no such identity provider here.")


class IdentityNotFound(GatewayAuthError):
    """The account has no identity of that provider and subject linked."""

    default_message = N_("There is no such linked identity on this account.")


class LastWayIn(GatewayAuthError):
    """Unlinking would leave the account no way to sign in (no password, passkey or other
    linked identity)."""

    default_message = N_(
        "This is the only way to sign in to this account: set a password or link another "
        "provider first."
    )


class NotAUser(GatewayAuthError):
    """Only users have a password to reset (guests have none, service clients a secret)."""

    default_message = N_(
        "Only users have a password; a service client's secret is rotated instead."
    )


class LastAdmin(GatewayAuthError):
    """The change would leave no active client holding the admin scope."""

    default_message = N_(
        "This is the last active client holding the admin scope; give another client the "
        "admin scope first."
    )


class SessionNotFound(GatewayAuthError):
    """No such session among the caller's own."""

    default_message = N_("No such session.")


class InvalidScope(GatewayAuthError):
    """A grant asks for a scope the client does not hold (RFC 6749 ``invalid_scope``)."""

    default_message = N_("The requested scope is not held by this client.")


class UnsupportedGrantType(GatewayAuthError):
    """A ``grant_type`` the token endpoint does not offer."""


class ServiceBusy(GatewayAuthError):
    """A bounded resource is full; the caller should retry shortly."""

    default_message = N_("The server is busy; retry shortly.")

    def __init__(self, retry_after: int = 1) -> None:
        super().__init__()
        self.retry_after = retry_after


class TooManyAttempts(GatewayAuthError):
    """Too many recent password attempts on this account (``by="account"``) or from this
    address (``by="source"``); retry after a while. The body is the same for every account."""

    default_message = N_("Too many failed attempts; retry later.")

    def __init__(self, retry_after: int, *, by: Literal["account", "source"] = "account") -> None:
        super().__init__(
            self.default_message if by == "account" else "Too many attempts from this address."
        )
        self.retry_after = retry_after
        self.by = by


class StoreUnavailable(GatewayAuthError):
    """The account store cannot be reached or failed; details go to the log, never the caller."""

    default_message = N_("The account store is unavailable; retry shortly.")


class InvalidExport(GatewayAuthError):
    """An import file that is not a complete, well-formed export (command line only)."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"line {line}: {problem}")


class ConfigurationError(Exception):
    """Start-up refused: every problem found, listed; ``unreachable``: a backend did not answer."""

    def __init__(self, problems: list[str], *, unreachable: bool = False) -> None:
        super().__init__(problems)
        self.problems, self.unreachable = problems, unreachable

    def __str__(self) -> str:
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        return f"invalid configuration ({len(self.problems)} problem(s)):\n{lines}"
