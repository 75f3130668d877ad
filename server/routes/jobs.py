"""Adaptation jobs: state and progress; DELETE cancels."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from sqlalchemy import select

from server.db import ACTIVE_STATES, Job, JobState, now
from server.deps import OwnerDep, ServiceDep
from server.schemas import JobOut

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


def _owned(service, owner: str, job_id: str) -> Job:  # noqa: ANN001
    with service.db.session() as s:
        job = s.get(Job, job_id)
    if job is None or job.owner != owner:
        raise HTTPException(404, f"no job {job_id!r}")
    return job


@router.get("", response_model=list[JobOut])
def list_jobs(service: ServiceDep, owner: OwnerDep) -> list[JobOut]:
    with service.db.session() as s:
        jobs = s.scalars(select(Job).where(Job.owner == owner).order_by(Job.created_at.desc())
                         .limit(100))
        return [JobOut.of(j) for j in jobs]


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: str, service: ServiceDep, owner: OwnerDep) -> JobOut:
    return JobOut.of(_owned(service, owner, job_id))


@router.delete("/{job_id}", response_model=JobOut)
def cancel_job(job_id: str, service: ServiceDep, owner: OwnerDep) -> JobOut:
    """A queued job is cancelled at once; a running one stops after its current step."""
    _owned(service, owner, job_id)
    with service.db.session() as s:
        job = s.get(Job, job_id, with_for_update=True)
        if job.state in ACTIVE_STATES:
            job.cancel_requested = True
            if job.state == JobState.QUEUED:
                job.state, job.finished_at = JobState.CANCELLED, now()
        return JobOut.of(job)
