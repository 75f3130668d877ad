"""Prometheus metrics, one registry per app (tests build many apps in one process).

Job outcomes and queue depth are read from the job table at scrape time, so they are
right whichever process (the API's runner or a Celery worker) ran the jobs.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from server.db import JOB_STATES, Database, Job, JobState

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 50)


class JobTableCollector:
    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self):  # the prometheus_client collector protocol
        with self.db.session() as s:
            counts = dict(s.execute(select(Job.state, func.count()).group_by(Job.state)).all())
        depth = GaugeMetricFamily("voiceadapt_job_queue_depth", "adaptation jobs waiting to run")
        depth.add_metric([], counts.get(JobState.QUEUED, 0))
        yield depth
        jobs = GaugeMetricFamily("voiceadapt_jobs", "adaptation jobs by state", labels=["state"])
        for state in JOB_STATES:
            jobs.add_metric([state], counts.get(state, 0))
        yield jobs


class Metrics:
    def __init__(self, db: Database) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("voiceadapt_http_requests", "HTTP requests",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("voiceadapt_http_request_seconds", "time to the response start",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.rtf = Histogram("voiceadapt_synthesis_real_time_factor",
                             "synthesis seconds per second of audio, per sentence",
                             buckets=RTF_BUCKETS, registry=self.registry)
        self.sentences = Counter("voiceadapt_sentences_synthesized", "sentences spoken",
                                 registry=self.registry)
        self.audio_seconds = Counter("voiceadapt_audio_seconds", "seconds of audio synthesized",
                                     registry=self.registry)
        self.registry.register(JobTableCollector(db))
