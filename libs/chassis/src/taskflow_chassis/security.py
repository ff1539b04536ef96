"""JWT verification from a JWKS, as FastAPI dependencies.

Every service checks tokens itself (docs/architecture.md): the algorithm is pinned,
the key comes from the JWKS by ``kid``, and ``exp``, ``iat``, ``iss``, ``aud``,
``sub``, ``jti`` and ``type`` are required. No identity is taken from a header.

A personal API token (``tfp_`` then a JWT of ``type`` "api" signed by auth's keys, with
its ``scp`` scopes and optional ``team``) takes the same path: wherever an access token
is accepted, so is an API token, verified from the JWKS with no call to auth, refused
once revoked (its ``jti`` is the token's id), and held to what its scopes name for the
route called (``taskflow_contracts.scopes``, checked here for every route).
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import httpx
import jwt
from fastapi import APIRouter, Depends, Header, Request, Security
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jwt.algorithms import get_default_algorithms
from jwt.utils import base64url_decode, base64url_encode
from taskflow_contracts.scopes import token_refusal

from taskflow_chassis.openapi import operation_id
from taskflow_chassis.problems import ProblemError, not_found

if TYPE_CHECKING:
    from taskflow_chassis.config import ServiceSettings

JwksFetcher = Callable[[], Awaitable[dict[str, Any]]]
TokenCheck = Callable[["TokenClaims"], Awaitable[None]]

REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub", "jti", "type"]
KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
# However many unknown kids arrive, ask auth for its keys at most this often.
REFETCH_INTERVAL_SECONDS = 10.0
# Verified tokens remembered per process (the oldest go first).
VERIFIED_CACHE_SIZE = 10_000
# A personal API token: this prefix, then a signed JWT of this type.
API_TOKEN_PREFIX = "tfp_"
API_TOKEN_TYPE = "api"


class InvalidToken(Exception):
    """The token is not one to trust; the message says why (for logs)."""


@dataclass(frozen=True)
class TokenClaims:
    sub: str
    jti: str
    type: str
    iat: int
    exp: int
    iss: str
    aud: str | list[str]
    raw: dict[str, Any]

    @property
    def user_id(self) -> uuid.UUID:
        return uuid.UUID(self.sub)

    @property
    def is_api_token(self) -> bool:
        return self.type == API_TOKEN_TYPE

    @functools.cached_property
    def scopes(self) -> frozenset[str] | None:
        """What an API token may do (None for a session's access token: all its owner may)."""
        if not self.is_api_token:
            return None
        return frozenset(self.raw.get("scp") or ())

    @functools.cached_property
    def team_id(self) -> uuid.UUID | None:
        """The one team an API token is restricted to (None: no restriction)."""
        team = self.raw.get("team") if self.is_api_token else None
        return uuid.UUID(str(team)) if team else None

    def limit(self, permissions: frozenset[str]) -> frozenset[str]:
        """A member's permissions as this token may use them: within its scopes."""
        scopes = self.scopes
        return permissions if scopes is None else permissions & scopes

    def sees_team(self, team_id: uuid.UUID) -> bool:
        """False for a team a restricted API token may not see (a non-member's 404)."""
        return self.team_id is None or self.team_id == team_id


def http_jwks_fetcher(url: str, *, timeout: float = 5.0) -> JwksFetcher:
    async def fetch() -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=timeout) as client:
            response = await client.get(url)
            response.raise_for_status()
            body: dict[str, Any] = response.json()
            return body

    return fetch


class JwtVerifier:
    def __init__(
        self,
        fetch_jwks: JwksFetcher,
        *,
        issuer: str,
        audience: str,
        algorithms: Sequence[str] = ("RS256",),
        cache_seconds: float = 300,
        leeway: float = 0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        unknown = set(algorithms) - set(get_default_algorithms())
        if unknown or not algorithms or "none" in algorithms:
            raise ValueError(f"unsupported JWT algorithms: {sorted(unknown) or algorithms}")
        if any(alg.startswith("HS") for alg in algorithms):
            raise ValueError("symmetric algorithms cannot be verified from a public JWKS")
        self._fetch = fetch_jwks
        self.issuer = issuer
        self.audience = audience
        self.algorithms = tuple(algorithms)
        self.cache_seconds = cache_seconds
        self.leeway = leeway
        self._clock = clock
        self._monotonic = monotonic
        self._keys: dict[str, dict[str, Any]] | None = None
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self.fetch_count = 0
        # A token's signature and claims are checked once per key set: a client sends the
        # same token with every request, and RSA verification is most of its cost.
        self._verified: dict[tuple[str, str], TokenClaims] = {}

    @classmethod
    def from_settings(
        cls, settings: ServiceSettings, fetch_jwks: JwksFetcher | None = None
    ) -> JwtVerifier:
        return cls(
            fetch_jwks or http_jwks_fetcher(settings.jwks_url),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            algorithms=settings.jwt_algorithms,
            cache_seconds=settings.jwks_cache_seconds,
        )

    async def _refresh(self, *, force: bool) -> dict[str, dict[str, Any]]:
        async with self._lock:
            age = self._monotonic() - self._fetched_at
            fresh = self._keys is not None and age < self.cache_seconds
            if fresh and not (force and age >= REFETCH_INTERVAL_SECONDS):
                assert self._keys is not None
                return self._keys
            try:
                self.fetch_count += 1
                jwks = await self._fetch()
                keys = {
                    k["kid"]: k for k in jwks.get("keys", []) if isinstance(k, dict) and "kid" in k
                }
            except Exception as exc:
                if self._keys is None:
                    raise InvalidToken("signing keys unavailable") from exc
                return self._keys  # auth is briefly away: keep trusting the keys we had
            if keys != self._keys:
                self._verified.clear()
            self._keys = keys
            self._fetched_at = self._monotonic()
            return keys

    async def _key_for(self, kid: str) -> dict[str, Any]:
        keys = await self._refresh(force=False)
        if kid not in keys:
            keys = await self._refresh(force=True)  # maybe auth rotated its key
        if kid not in keys:
            raise InvalidToken("unknown signing key")
        return keys[kid]

    async def verify(self, token: str, *, expected_type: str = "access") -> TokenClaims:
        """The claims of a valid token of ``expected_type``; where an access token is
        expected, a personal API token (``tfp_...``) is accepted too."""
        if token.startswith(API_TOKEN_PREFIX):
            if expected_type != "access":
                raise InvalidToken(f"an API token is not a {expected_type} token")
            expected_type = API_TOKEN_TYPE
        keys_fresh = self._monotonic() - self._fetched_at < self.cache_seconds
        cached = self._verified.get((token, expected_type)) if keys_fresh else None
        if cached is not None and cached.exp + self.leeway > self._clock():
            return cached
        claims = await self._verify(token.removeprefix(API_TOKEN_PREFIX), expected_type)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            del self._verified[next(iter(self._verified))]
        self._verified[(token, expected_type)] = claims
        return claims

    async def _verify(self, token: str, expected_type: str) -> TokenClaims:
        if expected_type == API_TOKEN_TYPE and not _canonical(token):
            raise InvalidToken("an API token in another spelling than the one auth issued")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"malformed token: {exc}") from exc
        alg = header.get("alg")
        kid = header.get("kid")
        if alg not in self.algorithms:
            raise InvalidToken(f"algorithm {alg!r} is not accepted")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("token has no kid")
        jwk = await self._key_for(kid)
        if jwk.get("kty") != KEY_TYPES.get(str(alg)[:2]) or jwk.get("alg", alg) != alg:
            raise InvalidToken("key type does not match the algorithm")
        try:
            key = jwt.PyJWK(jwk, algorithm=alg)
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": REQUIRED_CLAIMS, "verify_sub": True, "verify_jti": True},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        now = self._clock()
        if claims["exp"] + self.leeway <= now:
            raise InvalidToken("token expired")
        if claims.get("type") != expected_type:
            raise InvalidToken(f"expected a {expected_type} token")
        _check_subject(claims)
        return _claims_of(claims)


def held_token_claims(token: str) -> TokenClaims:
    """The claims of a token this process holds as auth gave it (a web session's, kept
    server-side), read without its signature checked: for what it says of itself (its id,
    family, version) against the revocations, never to accept a token someone sent.
    InvalidToken where it is no JWT with the claims every token has."""
    try:
        return _claims_of(jwt.decode(token, options={"verify_signature": False}))
    except (jwt.PyJWTError, KeyError, TypeError, ValueError) as exc:
        raise InvalidToken(f"malformed token: {exc}") from exc


def _claims_of(claims: dict[str, Any]) -> TokenClaims:
    return TokenClaims(
        sub=str(claims["sub"]),
        jti=str(claims["jti"]),
        type=str(claims["type"]),
        iat=int(claims["iat"]),
        exp=int(claims["exp"]),
        iss=str(claims["iss"]),
        aud=claims["aud"],
        raw=claims,
    )


def _canonical(token: str) -> bool:
    """Each segment in its one base64url spelling (no padding, no stray low bits): a token
    has exactly one form, so one rate-limit bucket at the gateway."""
    segments = token.split(".")
    if len(segments) != 3:
        return False
    try:
        return all(base64url_encode(base64url_decode(s)).decode() == s for s in segments)
    except (ValueError, TypeError):
        return False


def _check_subject(claims: dict[str, Any]) -> None:
    try:
        uuid.UUID(str(claims["sub"]))
    except ValueError as exc:
        raise InvalidToken("sub is not a user id") from exc
    if claims.get("type") != API_TOKEN_TYPE:
        return
    scopes, team = claims.get("scp"), claims.get("team")
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        raise InvalidToken("an API token's scp is not a list of scopes")
    if team is not None:
        try:
            uuid.UUID(str(team))
        except ValueError as exc:
            raise InvalidToken("an API token's team is not a team id") from exc


def _unauthenticated(title: str, detail: str, challenge: str) -> ProblemError:
    return ProblemError(
        401, title, detail, type="unauthenticated", headers={"WWW-Authenticate": challenge}
    )


async def bearer_token(request: Request) -> str:
    """The token of ``Authorization: Bearer``; never an identity from any other header.
    A personal API token is taken in one spelling only (``Bearer tfp_...``): the gateway's
    rate limit per token counts by the header's value, which must not have variants."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 8192:
        raise _unauthenticated(
            "Not authenticated", "Send Authorization: Bearer <access token>.", "Bearer"
        )
    if token.startswith(API_TOKEN_PREFIX) and header != f"Bearer {token}":
        raise _unauthenticated(
            "Not authenticated",
            "Send a personal API token exactly as Authorization: Bearer tfp_...",
            'Bearer error="invalid_request"',
        )
    return token


# The OpenAPI security scheme of every route that needs an access token (Swagger's
# Authorize button). It never answers by itself (auto_error=False): ``bearer_token``
# reads the header and refuses with the problem document and challenge below.
BEARER_SCHEME = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="JWT",
    description=(
        "An access token from POST /api/v1/auth/jwt/create (its `access`), or a personal "
        "API token (`tfp_...`, POST /api/v1/tokens)."
    ),
)
DocumentedBearer = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER_SCHEME)]


async def current_claims(request: Request, _documented: DocumentedBearer) -> TokenClaims:
    token = await bearer_token(request)
    verifier: JwtVerifier = request.app.state.jwt_verifier
    checks: list[TokenCheck] = getattr(request.app.state, "token_checks", [])
    try:
        claims = await verifier.verify(token)
        for check in checks:
            await check(claims)
    except InvalidToken as exc:
        raise _unauthenticated(
            "Invalid token",
            "The access token is invalid or expired.",
            'Bearer error="invalid_token"',
        ) from exc
    request.state.user_id = claims.sub  # for logs only
    if claims.scopes is not None:
        _check_scope(request, claims.scopes)
        _check_team(request, claims)
    return claims


def route_operation_id(request: Request) -> str | None:
    """The operation id of the route serving ``request``, as its OpenAPI document names it
    (worked out once per route)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return None
    known: str | None = route.__dict__.get("_taskflow_operation_id")
    if known is None:
        known = route.__dict__["_taskflow_operation_id"] = operation_id(route)
    return known


def _check_team(request: Request, claims: TokenClaims) -> None:
    """404, as for a non-member, for a team a restricted API token leaves out, wherever a
    path names it (``{team_id}``); a team named otherwise is each service's access check's."""
    named = request.path_params.get("team_id")
    if claims.team_id is None or named is None:
        return
    try:
        team_id = uuid.UUID(str(named))
    except ValueError:
        return  # not an id: the route's validation answers 422
    if team_id != claims.team_id:
        raise not_found("Team", "No team with this id has you as a member.")


def _check_scope(request: Request, scopes: frozenset[str]) -> None:
    """403 unless the API token's scopes open the route called (the one map)."""
    refusal = token_refusal(route_operation_id(request), scopes)
    if refusal is not None:
        raise ProblemError(403, "Insufficient scope", refusal, type="insufficient-scope")


async def current_user_id(claims: Annotated[TokenClaims, Depends(current_claims)]) -> uuid.UUID:
    return claims.user_id


SERVICE_KEY_HEADER = "X-Service-Key"


async def require_service_key(
    request: Request,
    key: Annotated[str | None, Header(alias=SERVICE_KEY_HEADER)] = None,
) -> None:
    """For ``/internal/v1`` routes (outside ``/api/v1``: the gateway never routes them):
    only a caller holding the internal API key, compared in constant time. With no key
    configured the routes do not exist (404), so a deployment that set none exposes nothing."""
    settings: ServiceSettings = request.app.state.settings
    expected = settings.internal_api_key.get_secret_value()
    if not expected:
        raise ProblemError(404, "Not Found", f"No route for {request.url.path}.")
    if key is None or not hmac.compare_digest(key.encode(), expected.encode()):
        raise ProblemError(
            401,
            "Service key required",
            f"This route answers services holding the internal API key ({SERVICE_KEY_HEADER}).",
            type="service-key-required",
        )


def internal_router() -> APIRouter:
    """A router for service-to-service routes: ``/internal/v1``, left out of the OpenAPI
    document, answering only holders of the internal API key."""
    return APIRouter(
        prefix="/internal/v1",
        tags=["internal"],
        include_in_schema=False,
        dependencies=[Depends(require_service_key)],
    )


CurrentClaims = Annotated[TokenClaims, Depends(current_claims)]
CurrentUserId = Annotated[uuid.UUID, Depends(current_user_id)]
