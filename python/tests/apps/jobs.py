"""A job tracker written with SQLModel: users own projects, projects hold jobs, jobs carry tags.

``SQLModel.metadata`` holds its tables, as in any SQLModel app. The job status is a Python
``enum.Enum`` stored as a string (SQLModel writes ``VARCHAR(n)``, n the longest member name).
"""

# SQLModel reads these annotations at runtime: `int | None` would need Python 3.10.
# ruff: noqa: FA100

import enum
from datetime import datetime, timezone
from typing import Optional

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class JobStatus(str, enum.Enum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: Optional[int] = Field(default=None, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    display_name: str = Field(max_length=100)
    is_admin: bool = False


class Project(SQLModel, table=True):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("owner_id", "name", name="uq_projects_owner_name"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="users.id", ondelete="CASCADE")
    name: str = Field(max_length=200)
    description: Optional[str] = None


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    # Job ids are never reused, even after the newest job is deleted.
    __table_args__ = (
        Index("ix_jobs_project_status", "project_id", "status"),
        {"sqlite_autoincrement": True},
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", ondelete="CASCADE")
    assignee_id: Optional[int] = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    title: str = Field(max_length=200, index=True)
    status: JobStatus = Field(default=JobStatus.queued, sa_column_kwargs={"server_default": "queued"})
    priority: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    estimate_hours: Optional[float] = None
    created_at: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))


class JobTag(SQLModel, table=True):
    __tablename__ = "job_tags"

    job_id: int = Field(foreign_key="jobs.id", primary_key=True, ondelete="CASCADE")
    tag: str = Field(max_length=50, primary_key=True)


metadata = SQLModel.metadata
