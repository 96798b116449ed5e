"""A podcast feed downloader written with plain SQLAlchemy 2.0 declarative: feeds hold episodes,
episodes have downloads.

Deleting a feed deletes its episodes and their downloads (ON DELETE CASCADE). ``created_at`` and
``updated_at`` are set by the database (``server_default=func.now()``, CURRENT_TIMESTAMP);
``updated_at`` is kept current by the ``feeds_touch_updated_at`` trigger, which the models cannot
hold: it is declared in ``feeds_triggers.yaml``, beside the generated schema.
"""

# SQLAlchemy reads `Mapped[...]` at runtime: `str | None` would need Python 3.10.
# ruff: noqa: FA100

from datetime import datetime
from typing import Optional

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


class Feed(Base):
    __tablename__ = "feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(500), unique=True)
    title: Mapped[Optional[str]] = mapped_column(String(200))
    explicit: Mapped[bool] = mapped_column(server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())

    episodes: Mapped[list["Episode"]] = relationship(back_populates="feed", passive_deletes=True)


class Episode(Base):
    __tablename__ = "episodes"
    __table_args__ = (
        UniqueConstraint("feed_id", "guid", name="uq_episodes_feed_guid"),
        CheckConstraint("duration_seconds IS NULL OR duration_seconds >= 0", name="ck_episodes_duration"),
        # The download queue: only episodes still waiting are indexed.
        Index("ix_episodes_queue", "feed_id", "published_at", sqlite_where=text("status = 'queued'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feeds.id", ondelete="CASCADE"))
    guid: Mapped[str] = mapped_column(String(200))
    title: Mapped[Optional[str]] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), server_default="queued")
    duration_seconds: Mapped[Optional[int]]
    published_at: Mapped[Optional[datetime]]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    feed: Mapped[Feed] = relationship(back_populates="episodes")
    downloads: Mapped[list["Download"]] = relationship(back_populates="episode", passive_deletes=True)


class Download(Base):
    __tablename__ = "downloads"
    __table_args__ = (CheckConstraint("bytes_done >= 0"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    episode_id: Mapped[int] = mapped_column(
        ForeignKey("episodes.id", ondelete="CASCADE", onupdate="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(String(1000))
    bytes_done: Mapped[int] = mapped_column(server_default=text("0"))
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[Optional[datetime]]

    episode: Mapped[Episode] = relationship(back_populates="downloads")


metadata = Base.metadata
