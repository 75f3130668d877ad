"""Adaptation jobs: state and progress; DELETE cancels."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from server import crud
from server.db import Job
from server.deps import OwnerDep, ServiceDep
from server.schemas import JobOut

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("", response_model=list[JobOut])
def list_jobs(service: ServiceDep, owner: OwnerDep) -> list[JobOut]:
    with service.db.session() as s:
        jobs = s.scalars(select(Job).where(Job.owner == owner).order_by(Job.created_at.desc())
                         .limit(100))
        return [JobOut.of(j) for j in jobs]


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: str, service: ServiceDep, owner: OwnerDep) -> JobOut:
    return JobOut.of(crud.owned_job(service, owner, job_id))


@router.delete("/{job_id}", response_model=JobOut)
def cancel_job(job_id: str, service: ServiceDep, owner: OwnerDep) -> JobOut:
    """A queued job is cancelled at once; a running one stops after its current step."""
    return JobOut.of(crud.cancel_job(service, owner, job_id))
