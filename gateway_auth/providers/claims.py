"""What a provider's claims say about a person (a Profile), by the provider's claim names, and
GitHub's answers (it has no ID token: its user, emails, organisations and teams APIs)."""

from __future__ import annotations

from typing import Any

from gateway_auth.errors import ExternalSignInFailed
from gateway_auth.i18n import N_
from gateway_auth.providers.provider import Profile, Provider
from gateway_auth.validation import MAX_NAME_LENGTH, without_controls

MAX_SUBJECT = 255  # OpenID Connect Core 2: at most 255 ASCII characters
MAX_GROUPS = 1000


def profile_of(provider: Provider, claims: dict[str, Any], id_token: str | None = None) -> Profile:
    """The Profile in an ID token's claims (with userinfo's merged in)."""
    names = provider.claims
    subject = claims.get(names.subject)
    if isinstance(subject, int) and not isinstance(subject, bool):
        subject = str(subject)
    if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT:
        raise _unusable(provider, f"subject claim {names.subject!r}")
    email = claims.get(names.email)
    email = email.strip() if isinstance(email, str) else ""
    given, family = _text(claims.get(names.given_name)), _text(claims.get(names.family_name))
    if given is None and family is None:
        given = _text(claims.get(names.name))
    sid = claims.get("sid")
    return Profile(
        subject=subject,
        email=email,
        email_verified=bool(email) and _verified(provider, claims),
        first_name=given,
        last_name=family,
        groups=_groups(claims.get(names.groups) if names.groups else None),
        provider_sid=sid if isinstance(sid, str) and sid else None,
        id_token=id_token,
    )


def github_profile(user: Any, emails: Any, organisations: Any, teams: Any) -> Profile:
    """GitHub's answers as a Profile: its numeric user id is the subject (a login can be
    renamed), the primary address with GitHub's word on whether it is verified, and the
    organisations (``org``) and teams (``org/team``) as groups."""
    if not isinstance(user, dict) or not isinstance(user.get("id"), int):
        raise ExternalSignInFailed("invalid_answer", N_("GitHub's answer could not be read."))
    primary = next(
        (e for e in emails if isinstance(e, dict) and e.get("primary") is True),
        None,
    ) if isinstance(emails, list) else None  # fmt: skip
    if primary is not None and isinstance(primary.get("email"), str):
        email, verified = primary["email"], primary.get("verified") is True
    else:
        email, verified = (user.get("email") or "", False)  # a public address, unconfirmed
    groups = [o["login"] for o in _objects(organisations) if isinstance(o.get("login"), str)]
    for team in _objects(teams):
        organisation = team.get("organization")
        if isinstance(organisation, dict) and isinstance(team.get("slug"), str):
            groups.append(f"{organisation.get('login')}/{team['slug']}")
    return Profile(
        subject=str(user["id"]),
        email=email.strip() if isinstance(email, str) else "",
        email_verified=verified,
        first_name=_text(user.get("name")) or _text(user.get("login")),
        groups=tuple(dict.fromkeys(groups))[:MAX_GROUPS],
    )


def _verified(provider: Provider, claims: dict[str, Any]) -> bool:
    if provider.email_verified != "claim":
        return provider.email_verified == "always"
    name = provider.claims.email_verified
    value = claims.get(name) if name else None
    return value is True or value == "true"  # some providers send the word


def _groups(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(dict.fromkeys(g for g in value if isinstance(g, str) and g))[:MAX_GROUPS]
    return ()


def _text(value: Any) -> str | None:
    """A name as a provider sent it, made safe to keep: line breaks and other control or
    format characters (bidirectional overrides among them) become spaces, and it is cut to
    the longest name we store."""
    if not isinstance(value, str):
        return None
    return without_controls(value)[:MAX_NAME_LENGTH].strip() or None


def _objects(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _unusable(provider: Provider, what: str) -> ExternalSignInFailed:
    return ExternalSignInFailed(
        "invalid_answer",
        N_("The answer from {name} could not be used. Please sign in again."),
        f"missing or unusable {what}",
        name=provider.name,
    )
