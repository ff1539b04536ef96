"""The signed-in account's participant profile."""

from __future__ import annotations

from fastapi import APIRouter, status
from taskflow_chassis.etags import ETagDep, IfMatchDep
from taskflow_chassis.problems import problem_responses
from taskflow_chassis.unit_of_work import UnitOfWorkDep

from taskflow_auth.deps import CurrentParticipant, CurrentUser
from taskflow_auth.participants import service
from taskflow_auth.participants.schemas import ParticipantCreate, ParticipantRead, ParticipantUpdate

router = APIRouter(prefix="/api/v1/participants", tags=["participants"])


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(401, 409, 422),
    summary="Register my participant profile",
)
async def register(
    data: ParticipantCreate, user: CurrentUser, uow: UnitOfWorkDep, tag: ETagDep
) -> ParticipantRead:
    participant = await service.register_participant(uow, user, data)
    return tag(ParticipantRead.model_validate(participant))


@router.get("/me", responses=problem_responses(401, 404))
async def read_participant(participant: CurrentParticipant, tag: ETagDep) -> ParticipantRead:
    return tag(ParticipantRead.model_validate(participant))


@router.patch("/me", responses=problem_responses(401, 404, 409, 422))
async def update_participant(
    data: ParticipantUpdate,
    user: CurrentUser,
    participant: CurrentParticipant,
    uow: UnitOfWorkDep,
    precondition: IfMatchDep,
    tag: ETagDep,
) -> ParticipantRead:
    participant = await service.update_participant(uow, user, participant, data, precondition)
    return tag(ParticipantRead.model_validate(participant))
