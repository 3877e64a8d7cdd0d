"""GET /api/availability: whether people answer chats now, for the widget's status line.

Public like the chat gateway, and says no more than the widget shows: open or away, and when
people are back (in the customer's time zone when the widget names it), never who or how many.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import Engine

from bot.dialogue.replies import status_line, when_back
from bot.handoff.availability import current
from bot.hours import customer_zone
from bot.settings import Settings


def build_router(settings: Settings, engine: Engine) -> APIRouter:
    """The availability route over the queue's database (where the inbox sessions are)."""
    router = APIRouter(tags=["chat"])

    @router.get("/api/availability")
    def availability(
        tz: Annotated[
            str | None,
            Query(
                max_length=64,
                pattern=r"^[A-Za-z0-9_+\-/]+$",
                description="The customer's IANA time zone (e.g. Europe/Paris); an unknown "
                "one is ignored.",
            ),
        ] = None,
    ) -> dict:
        """{'state': 'open' | 'closed' | 'nobody', 'live': bool, 'back_at': ISO time or null,
        'text': the status line}."""
        now = dt.datetime.now(dt.UTC)
        found = current(settings, engine, now)
        zone = customer_zone({"timezone": tz})
        when = when_back(found.back_at, now, zone) if found.back_at and not found.live else None
        return {
            "state": found.state,
            "live": found.live,
            "back_at": found.back_at.isoformat() if found.back_at and not found.live else None,
            "text": status_line(found.state, when),
        }

    return router
