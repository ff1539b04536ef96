"""Every problem type TaskFlow answers, in one catalogue: its status, its title, and what it
means for the client (what happened, what to do next).

A problem document's ``type`` is ``/problems/<slug>``: a reference relative to the address
the request went to, so it names the same page on every deployment, and the web app
serves that page from this catalogue. Clients compare the slug, never the title.
"""

from __future__ import annotations

from dataclasses import dataclass

PROBLEM_TYPE_PATH = "/problems/"


@dataclass(frozen=True)
class ProblemType:
    status: int
    title: str
    meaning: str


# Objects a caller may not learn of answer ``<subject>-not-found`` (404): absent, deleted,
# or in a team the caller is not in, which are told apart to nobody.
NOT_FOUND_SUBJECTS = (
    "API token",
    "Assignee",
    "Comment",
    "Delivery",
    "Invitation",
    "Member",
    "Notification",
    "Project",
    "Role",
    "Task",
    "Team",
    "Webhook",
)
# An invitation no longer pending answers ``invitation-<status>`` (409).
CLOSED_INVITATION_STATUSES = ("accepted", "declined", "revoked", "expired")

_REQUEST = {
    "validation": ProblemType(
        422,
        "Validation failed",
        "A field of the request is missing, of the wrong type or out of range. `errors` lists "
        "each one with its `loc` (where: body, query, path, header) and `msg`; correct them "
        "and send again.",
    ),
    "malformed-json": ProblemType(
        400,
        "Malformed JSON",
        "The body is not valid JSON (or not UTF-8). Send a JSON document with "
        "`Content-Type: application/json`.",
    ),
    "json-too-deep": ProblemType(
        400,
        "JSON nested too deep",
        "The body nests objects or arrays deeper than any TaskFlow request needs; it was not "
        "read. Flatten it.",
    ),
    "content-too-large": ProblemType(
        413,
        "Content too large",
        "The body is larger than the limit for this route. Send less (a bulk change takes at "
        "most 500 tasks; split larger ones).",
    ),
    "uri-too-long": ProblemType(
        414,
        "URI too long",
        "The request's address is longer than the server reads. Use fewer or shorter query "
        "parameters.",
    ),
    "unknown-query-parameter": ProblemType(
        400,
        "Unknown query parameter",
        "The route does not take a query parameter the request named (a misspelt filter would "
        "otherwise be ignored silently). `errors` names it; the OpenAPI document lists the "
        "ones the route takes.",
    ),
    "repeated-query-parameter": ProblemType(
        400,
        "Query parameter repeated",
        "A query parameter that takes one value was given more than once. Give it once; the "
        "list filters (status, priority, assignee, label) are the ones that may repeat.",
    ),
    "invalid-cursor": ProblemType(
        400,
        "Invalid cursor",
        "The `cursor` is not one this list handed out, or it came with other filters or "
        "another sort. Start again from the first page with the filters you want and follow "
        "each page's `next_cursor`.",
    ),
    "value-required": ProblemType(
        422,
        "Value required",
        "A field that may not be emptied was sent as null. Leave it out to keep its value, "
        "or send a new one.",
    ),
    "name-required": ProblemType(
        422,
        "Name required",
        "The name is missing or blank. Give it at least one visible character.",
    ),
    "invalid-dates": ProblemType(
        422,
        "Invalid dates",
        "The end comes before the start. Give an end on or after the start.",
    ),
    "invalid-window": ProblemType(
        422,
        "Invalid time window",
        "`since` comes after `until`. Give a window whose start is not after its end.",
    ),
}

_SIGN_IN = {
    "unauthenticated": ProblemType(
        401,
        "Not authenticated",
        "The request carries no valid access token: missing, expired, revoked, or not "
        "spelt `Authorization: Bearer <token>`. Log in again, or refresh the access token "
        "with the refresh token.",
    ),
    "authentication-failed": ProblemType(
        401,
        "Authentication failed",
        "The username or the password is wrong. The answer never says which.",
    ),
    "login-throttled": ProblemType(
        429,
        "Too many failed log-ins",
        "Too many failed log-ins for this account or from this address. Wait as long as "
        "`Retry-After` says, or reset the password by email.",
    ),
    "passwords-busy": ProblemType(
        503,
        "Too many log-ins at once",
        "The server is checking as many passwords as it can at once. Try again after "
        "`Retry-After` seconds.",
    ),
    "wrong-password": ProblemType(
        403,
        "Wrong password",
        "The current password given to confirm this change is wrong. Nothing was changed.",
    ),
    "weak-password": ProblemType(
        422,
        "Password too weak",
        "The new password is too short, too common or too close to the account's name or "
        "email. Choose a longer passphrase.",
    ),
    "invalid-email-token": ProblemType(
        400,
        "Invalid email link",
        "The email verification or email change link is wrong, used or expired. Ask for a "
        "new one from the profile.",
    ),
    "invalid-reset-token": ProblemType(
        400,
        "Invalid reset link",
        "The password reset link is wrong, used or expired (links are single-use). Ask for "
        "a new one with `forgot password`.",
    ),
    "email-throttled": ProblemType(
        429,
        "Too many emails asked for",
        "This account asked for that email too often. Wait as long as `Retry-After` says; "
        "the last email sent is still valid.",
    ),
    "same-email": ProblemType(
        422,
        "Same email",
        "The new email address is the account's current one. Nothing to change.",
    ),
    "email-not-verified": ProblemType(
        403,
        "Email not verified",
        "This needs a verified email address (teams invite people by email). Open the link "
        "of the verification email, or ask for a new one.",
    ),
    "participant-not-registered": ProblemType(
        404,
        "No participant profile",
        "The account has no participant profile (name and phone number) yet. Register one first.",
    ),
    "participant-required": ProblemType(
        403,
        "Participant profile required",
        "Teams need to know who you are: register a participant profile (name and phone "
        "number) before creating or joining a team.",
    ),
    "invalid-phone-number": ProblemType(
        422,
        "Invalid phone number",
        "The phone number is not a possible number. Give it in international form "
        "(+44 20 7946 0958) or with the region it belongs to.",
    ),
    "conflict": ProblemType(
        409,
        "Already taken",
        "The value must be unique and another account already has it (a username or an "
        "email address). `errors` names the field; choose another.",
    ),
}

_TOKENS_AND_SERVICES = {
    "insufficient-scope": ProblemType(
        403,
        "Insufficient scope",
        "The personal API token does not carry the scope this operation needs (or the "
        "operation is for signed-in people only, such as managing tokens and the account). "
        "`required_scope` names it; make a token with that scope.",
    ),
    "too-many-api-tokens": ProblemType(
        409,
        "Too many API tokens",
        "The account has as many active personal API tokens as it may. Revoke one it no "
        "longer uses.",
    ),
    "service-key-required": ProblemType(
        401,
        "Service key required",
        "This internal route answers only other TaskFlow services, with their service key.",
    ),
    "service-unavailable": ProblemType(
        503,
        "Service unavailable",
        "A database, broker or service this request needs is away for a moment. Nothing was "
        "changed; try again after `Retry-After` seconds.",
    ),
    "not-ready": ProblemType(
        503,
        "Not ready",
        "The readiness check found a dependency away (its name is in the answer). The "
        "service is alive and will be ready again when the dependency is back.",
    ),
    "membership-unavailable": ProblemType(
        503,
        "Membership not known yet",
        "This service has not yet heard of the team or of your membership (it learns of them "
        "from events, usually within a second). Try again shortly.",
    ),
}

_SAFE_WRITES = {
    "precondition-required": ProblemType(
        428,
        "Precondition required",
        "This change needs `If-Match` with the version (`ETag`) you last read, so that two "
        "people's edits never overwrite each other unseen. Read the object, then send its "
        "`ETag`.",
    ),
    "precondition-failed": ProblemType(
        412,
        "Precondition failed",
        "The object changed since the version your `If-Match` names. Read it again, apply "
        "your change to what is there now, and send the new `ETag`.",
    ),
    "invalid-idempotency-key": ProblemType(
        400,
        "Invalid Idempotency-Key",
        "The `Idempotency-Key` header must be 1 to 255 visible ASCII characters. A fresh "
        "UUID for each new request is a good key.",
    ),
    "idempotency-key-in-use": ProblemType(
        409,
        "Idempotency-Key in use",
        "A request with this key is still being processed. Wait for it, then retry: the "
        "retry gets its answer.",
    ),
    "idempotency-key-reused": ProblemType(
        422,
        "Idempotency-Key reused",
        "This key was already used for a different request (another body or route). Use a "
        "new key for a new request.",
    ),
    "idempotency-key-spent": ProblemType(
        409,
        "Idempotency-Key spent",
        "A request with this key was taken but its answer cannot be replayed (the server "
        "stopped while handling it, or the answer holds a secret that is never kept). Check "
        "whether the change happened before you send it again with a new key.",
    ),
}

_TEAMS = {
    "permission-required": ProblemType(
        403,
        "Permission required",
        "You are a member of the team, but your role does not grant the permission this "
        "needs (`permission` names it). A team leader can change your role.",
    ),
    "permission-escalation": ProblemType(
        403,
        "Permission escalation",
        "A role cannot be given permissions its editor does not hold, nor a member a role "
        "stronger than the editor's own.",
    ),
    "builtin-role": ProblemType(
        409,
        "Built-in role",
        "The five built-in roles cannot be renamed or deleted. Make a custom role instead.",
    ),
    "leader-role-fixed": ProblemType(
        409,
        "Team Leader role fixed",
        "The Team Leader role always holds every permission, so a team can always be run.",
    ),
    "last-team-leader": ProblemType(
        409,
        "Last team leader",
        "The team would have no leader left. Make another member Team Leader first.",
    ),
    "role-in-use": ProblemType(
        409,
        "Role in use",
        "Members or pending invitations still have this role. Give them another role, then "
        "delete it.",
    ),
    "role-name-taken": ProblemType(
        409,
        "Role name taken",
        "The team already has a role with this name. Choose another.",
    ),
    "already-member": ProblemType(
        409,
        "Already a member",
        "The person is already a member of the team.",
    ),
    "already-invited": ProblemType(
        409,
        "Already invited",
        "A pending invitation to this address exists. Resend it instead.",
    ),
    "invitation-used": ProblemType(
        409,
        "Invitation used",
        "The invitation was already answered. Ask the team for a new one if needed.",
    ),
    "invitation-wrong-recipient": ProblemType(
        403,
        "Invitation for someone else",
        "The invitation was sent to another email address than this account's. Sign in "
        "with the invited address, or ask for an invitation to yours.",
    ),
    "team-deleted": ProblemType(
        409,
        "Team deleted",
        "The team was deleted (it can be restored by its leader for a while). Its "
        "invitations can no longer be accepted.",
    ),
}

_WORK = {
    "project-archived": ProblemType(
        409,
        "Project archived",
        "The project is archived: it takes no new tasks. Restore it first.",
    ),
    "assignee-not-member": ProblemType(
        422,
        "Assignee not a member",
        "A task can only be assigned to members of its team. Invite the person first.",
    ),
    "membership-changed": ProblemType(
        409,
        "Membership changed",
        "An assignee left the team while the change was being made. Read the task and try again.",
    ),
    "not-author": ProblemType(
        403,
        "Not the author",
        "Only a comment's author may edit it (a team leader may delete it).",
    ),
    "bulk-change-invalid": ProblemType(
        422,
        "Changes not valid",
        "The bulk change cannot be applied to some of the tasks named. `errors` lists each "
        "failing task id and why; nothing was changed.",
    ),
}

_WEBHOOKS = {
    "webhook-address-refused": ProblemType(
        422,
        "Webhook address refused",
        "Webhooks are delivered only to public HTTPS addresses: not to private, loopback, "
        "link-local or reserved networks, whatever the host name resolves to.",
    ),
    "webhook-limit": ProblemType(
        409,
        "Too many webhooks",
        "The team has as many webhook endpoints as it may. Delete one it no longer uses.",
    ),
    "delivery-pending": ProblemType(
        409,
        "Delivery pending",
        "The delivery is still waiting for its next attempt; redeliver it by hand once it "
        "has failed or succeeded.",
    ),
}


def _not_found(subject: str) -> tuple[str, ProblemType]:
    slug = subject.lower().replace(" ", "-")
    named = subject if subject.split()[0].isupper() else subject.lower()  # "API token"
    meaning = (
        f"No {named} with this id is visible to you: it does not exist, was deleted, or "
        "belongs to a team you are not in (TaskFlow does not tell these apart)."
    )
    return f"{slug}-not-found", ProblemType(404, f"{subject} not found", meaning)


def _closed_invitation(status: str) -> tuple[str, ProblemType]:
    meaning = f"The invitation was {status}: it can no longer be accepted or declined."
    return f"invitation-{status}", ProblemType(409, f"Invitation {status}", meaning)


PROBLEM_TYPES: dict[str, ProblemType] = {
    **_REQUEST,
    **_SIGN_IN,
    **_TOKENS_AND_SERVICES,
    **_SAFE_WRITES,
    **_TEAMS,
    **_WORK,
    **_WEBHOOKS,
    **dict(_not_found(subject) for subject in NOT_FOUND_SUBJECTS),
    **dict(_closed_invitation(status) for status in CLOSED_INVITATION_STATUSES),
    # Opened by its link after it expired: gone for good (410), or 409 when answered late.
    "invitation-expired": ProblemType(
        410,
        "Invitation expired",
        "The invitation's time ran out before it was answered. Ask the team to resend it: "
        "a resent invitation has a new link and a new expiry.",
    ),
}


def problem_type_uri(slug: str) -> str:
    return PROBLEM_TYPE_PATH + slug
