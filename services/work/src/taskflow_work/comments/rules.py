"""Who may change a comment: its author edits it; its author, or a moderator, deletes it."""

from __future__ import annotations

import uuid

from taskflow_chassis.problems import ProblemError
from taskflow_contracts import permissions as P


def may_edit(author_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    return author_id == user_id


def not_author() -> ProblemError:
    return ProblemError(
        403, "Not your comment", "Only its author can edit a comment.", type="not-author"
    )


def permissions_to_delete(author_id: uuid.UUID, user_id: uuid.UUID) -> list[str]:
    """Nothing for the author's own comment; comments.moderate for anyone else's."""
    return [] if author_id == user_id else [P.COMMENTS_MODERATE]
