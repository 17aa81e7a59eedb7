"""Cache invalidation: the one interface through which a change made anywhere drops stale cached
entries everywhere.

Every in-process cache (id tags, station settings and credentials, API tokens, operator
sessions) subscribes to a *kind*; whoever changes the underlying data publishes
``(kind, key)`` (``key=None``: drop everything of that kind). In a single process publishing calls
the local subscribers; a cluster implementation also relays the message to every other node, so
callers never know which one they talk to."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable

log = logging.getLogger(__name__)

Callback = Callable[[str | None], None]

# The kinds in use; a new cache adds its own name here.
ID_TAGS = "id_tags"
STATIONS = "stations"
STATION_CREDENTIALS = "station_credentials"
API_TOKENS = "api_tokens"
USERS = "users"  # key: a user name (its role/password/disabled flag changed)
SESSIONS = "sessions"  # key: the hashed id of a console session that ended
STATION_CONFIGURATION = "station_configuration"  # key: station id
SITE_MEMBERS = "site_members"
# Stations that may hold installed charging profiles (domain/smart_charging.py): the key is a
# station that gained one, so that the node holding it cleans up at the end of a transaction.
PROFILE_HOLDERS = "profile_holders"
# Stations that may hold a reservation (domain/reservation.py): the key is a station that got one.
RESERVATION_HOLDERS = "reservation_holders"


class Invalidation:
    def __init__(self) -> None:
        self._subscribers: dict[str, list[Callback]] = defaultdict(list)
        # Set by the cluster: carries each publication to the other nodes.
        self.relay: Callable[[str, str | None], None] | None = None

    def subscribe(self, kind: str, callback: Callback) -> None:
        self._subscribers[kind].append(callback)

    def publish(self, kind: str, key: str | None = None) -> None:
        """Drop ``key`` (or everything) of ``kind`` in every cache, here and on other nodes."""
        self.deliver(kind, key)
        if self.relay is not None:
            self.relay(kind, key)

    def deliver_all(self) -> None:
        """Drop everything of every kind: after a time in which relayed messages may have been
        missed (the connection to the other nodes was down)."""
        for kind in list(self._subscribers):
            self.deliver(kind, None)

    def deliver(self, kind: str, key: str | None) -> None:
        """Run the local subscribers (a cluster relay calls this for remote messages)."""
        for callback in self._subscribers.get(kind, ()):
            try:
                callback(key)
            except Exception:
                log.exception("invalidation of %s %r failed", kind, key)
