"""JWT authentication for HTTP (DRF) and WebSockets (Channels).

Tokens come from the platform's identity service: `sub` is the userId, `exp` is
required, `aud`/`iss` are checked when configured, and the accepted algorithm is
fixed by settings, never read from the token.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field

import jwt
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from jwt.algorithms import get_default_algorithms
from rest_framework import authentication, exceptions, status
from rest_framework.permissions import SAFE_METHODS

from conversation import restrictions

USER_ID_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,128}$")


class Suspended(exceptions.APIException):
    """The caller is suspended by staff (moderation): every authenticated call is refused."""

    status_code = status.HTTP_403_FORBIDDEN
    default_detail = _("Your account is suspended.")
    default_code = code = "suspended"


class InvalidToken(Exception):
    """The token is missing, malformed, expired or not signed by our key."""


@dataclass(frozen=True)
class TokenUser:
    """The caller as the identity service describes them; not a database row."""

    id: str
    roles: tuple[str, ...] = field(default=())
    # Unix time the token stops being valid: a socket opened with it is closed then.
    expires_at: float | None = field(default=None, compare=False)

    is_authenticated = True
    is_anonymous = False
    is_active = True

    @property
    def pk(self) -> str:
        return self.id

    @property
    def is_staff(self) -> bool:
        return "staff" in self.roles

    def __str__(self) -> str:
        return self.id


def _verification_key() -> str:
    return settings.JWT_PUBLIC_KEY or settings.JWT_SECRET


def _prepare_keys_once() -> None:
    """PyJWT prepares the key on every decode: it re-checks an HMAC secret for PEM, SSH, DER and JSON forms
    (a third of a decode's CPU) or parses an RSA PEM. The same key always prepares the same way, so each
    algorithm's `prepare_key` is memoized (a few keys, all from settings). Registered through PyJWT's public
    `register_algorithm`, so verification itself is PyJWT's, unchanged."""
    for name, algorithm in get_default_algorithms().items():
        algorithm.prepare_key = functools.lru_cache(maxsize=8)(algorithm.prepare_key)
        jwt.unregister_algorithm(name)
        jwt.register_algorithm(name, algorithm)


_prepare_keys_once()


def decode_token(token: str) -> TokenUser:
    if not token:
        raise InvalidToken("no token")
    try:
        claims = jwt.decode(
            token,
            _verification_key(),
            algorithms=settings.JWT_ALGORITHMS,
            audience=settings.JWT_AUDIENCE,
            issuer=settings.JWT_ISSUER,
            options={"require": ["exp", "sub"], "verify_aud": settings.JWT_AUDIENCE is not None},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not USER_ID_RE.match(sub):
        raise InvalidToken("sub must be a user id of 1-128 characters [A-Za-z0-9_.@-]")
    roles = claims.get("roles") or []
    if isinstance(roles, str):
        roles = roles.split()
    if not isinstance(roles, list):
        raise InvalidToken("roles must be a list")
    return TokenUser(id=sub, roles=tuple(str(r) for r in roles), expires_at=float(claims["exp"]))


def mint_token(user_id: str, *, staff: bool = False, ttl_seconds: int = 3600) -> str:
    """A token signed with the configured secret (development and tests; HS256 only)."""
    if not settings.JWT_SECRET:
        raise RuntimeError("mint_token needs JWT_SECRET (an RS256 public key cannot sign)")
    now = dt.datetime.now(dt.UTC)
    claims: dict = {"sub": user_id, "iat": now, "exp": now + dt.timedelta(seconds=ttl_seconds)}
    if staff:
        claims["roles"] = ["staff"]
    if settings.JWT_AUDIENCE:
        claims["aud"] = settings.JWT_AUDIENCE
    if settings.JWT_ISSUER:
        claims["iss"] = settings.JWT_ISSUER
    return jwt.encode(claims, settings.JWT_SECRET, algorithm="HS256")


class JWTAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <JWT>`, from a caller who is not suspended.

    The suspension check is exact (one Redis command) for a request that may change state; a read
    trusts this process's copy of the suspensions confirmed within `restrictions.AUTH_CHECK_AGE`, and
    so does every request of a view whose service checks exactly itself, in a round trip it makes anyway,
    before it stores anything (`service_checks_suspension`: the matchmaking POST, `restrictions.check_keys`).
    """

    keyword = "Bearer"

    def __init__(self, *, service_checks_suspension: bool = False) -> None:
        self.service_checks_suspension = service_checks_suspension

    def suspension_check_age(self, request) -> float:
        if self.service_checks_suspension or request.method in SAFE_METHODS:
            return restrictions.AUTH_CHECK_AGE
        return 0.0

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Authorization header must be 'Bearer <token>'."))
        try:
            user = decode_token(header[1].decode("ascii", errors="replace"))
        except InvalidToken as exc:
            # The reason comes from PyJWT, in English: it is for the developer of the calling app.
            raise exceptions.AuthenticationFailed(_("Invalid token: %(reason)s.") % {"reason": exc}) from None
        # Here rather than in a permission class: views that set their own permissions are covered too.
        if restrictions.is_suspended(user.id, max_age=self.suspension_check_age(request)):
            raise Suspended()
        return user, None

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


def caller_id(user) -> str:
    """The userId of an authenticated caller (a Django staff user is `django:<pk>`)."""
    if isinstance(user, TokenUser):
        return user.id
    return f"django:{user.pk}"


def is_staff(user) -> bool:
    return bool(user and getattr(user, "is_authenticated", False) and getattr(user, "is_staff", False))
