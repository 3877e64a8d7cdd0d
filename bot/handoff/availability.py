"""Whether people can answer a chat now: inside business hours and with an agent signed in.

The widget's status line, the handoff's wording and the inbox's after-hours mark all read it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from bot.hours import BusinessHours

State = Literal["open", "closed", "nobody"]


@dataclass(frozen=True)
class Availability:
    """Now: 'open' (a person answers in the chat), 'closed' (outside business hours) or
    'nobody' (inside hours, nobody signed in); back_at: when the hours next open."""

    state: State
    back_at: dt.datetime | None
    agents: int

    @property
    def live(self) -> bool:
        """A person can answer in the chat now."""
        return self.state == "open"

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "state": self.state,
            "live": self.live,
            "back_at": self.back_at.isoformat() if self.back_at else None,
            "agents": self.agents,
        }


def availability(
    hours: BusinessHours, agents_signed_in: int, now: dt.datetime, need_agents: bool = True
) -> Availability:
    """Open, closed or nobody at now, given how many agents are signed in to the inbox."""
    if not hours.is_open(now):
        return Availability("closed", hours.next_open(now), agents_signed_in)
    if need_agents and agents_signed_in == 0:
        return Availability("nobody", None, 0)
    return Availability("open", now, agents_signed_in)


def current(settings, engine, now: dt.datetime | None = None) -> Availability:
    """Availability now from the settings' hours and the inbox sessions in engine's database."""
    from bot.handoff.sessions import SessionStore

    sessions = SessionStore(
        engine, settings.session_idle_minutes * 60, settings.session_lifetime_hours * 3600
    )
    return availability(
        BusinessHours.from_settings(settings),
        sessions.signed_in(),
        now or dt.datetime.now(dt.UTC),
        need_agents=settings.after_hours_without_agents,
    )
