"""WattHub's model of the charging profiles a station has *accepted*.

The station is the source of truth, but OCPP 1.6 has no "get charging profiles" message, so the
CSMS mirrors the station's bookkeeping: every SetChargingProfile.conf(Accepted) is ``install``-ed,
every ClearChargingProfile is ``clear``-ed and every StopTransaction ends its TxProfiles. The
replacement rules are the station's rules from OCPP 1.6 §3.13.2 / §5.16.

Pure data: no I/O, deep-copied dicts in and out, ``to_list``/``from_list`` for persistence.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from .profiles import TX_PROFILE

__all__ = ["InstalledProfile", "InstalledProfiles"]

_Predicate = Callable[["InstalledProfile"], bool]


@dataclass(frozen=True, slots=True)
class InstalledProfile:
    """One accepted profile and the connector it was set on."""

    connector_id: int
    profile: dict[str, Any]

    @property
    def profile_id(self) -> int:
        return int(self.profile["chargingProfileId"])

    def to_dict(self) -> dict[str, Any]:
        # Same shape as SetChargingProfile.req, so a stored entry can be re-sent verbatim.
        return {"connectorId": self.connector_id, "csChargingProfiles": copy.deepcopy(self.profile)}


class InstalledProfiles:
    """The profiles installed on one station, kept per connector in installation order."""

    def __init__(self, entries: Iterable[InstalledProfile] = ()) -> None:
        self._entries: list[InstalledProfile] = []
        for entry in entries:
            self.install(entry.connector_id, entry.profile)

    # --- mutation -------------------------------------------------------------------------

    def install(self, connector_id: int, profile: Mapping[str, Any]) -> list[InstalledProfile]:
        """Record an accepted SetChargingProfile; return the profiles it replaced.

        Replaced: any profile with the same chargingProfileId (on any connector), and on the same
        connector any profile with the same stackLevel and chargingProfilePurpose. The latter
        also covers a RemoteStart TxProfile (no transactionId) being superseded by a later
        SetChargingProfile for the same transaction and stackLevel.
        """
        new = InstalledProfile(connector_id, copy.deepcopy(dict(profile)))

        def replaced(old: InstalledProfile) -> bool:
            if old.profile_id == new.profile_id:
                return True
            return (
                old.connector_id == connector_id
                and old.profile.get("stackLevel") == new.profile.get("stackLevel")
                and old.profile.get("chargingProfilePurpose")
                == new.profile.get("chargingProfilePurpose")
            )

        removed = self._remove_where(replaced)
        self._entries.append(new)
        return removed

    def clear(
        self,
        id: int | None = None,  # mirrors the OCPP field name
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> list[InstalledProfile]:
        """Apply ClearChargingProfile.req semantics; return what was removed.

        No criteria → everything. ``id`` given → only that profile, other criteria ignored.
        Otherwise the given criteria are ANDed (connector_id 0 means "profiles set on
        connector 0", not "all connectors"). An empty result means the station answers
        ``Unknown``, a non-empty one ``Accepted``.
        """
        if id is not None:
            return self._remove_where(lambda e: e.profile_id == id)

        def matches(entry: InstalledProfile) -> bool:
            return (
                (connector_id is None or entry.connector_id == connector_id)
                and (purpose is None or entry.profile.get("chargingProfilePurpose") == purpose)
                and (stack_level is None or entry.profile.get("stackLevel") == stack_level)
            )

        return self._remove_where(matches)

    def end_transaction(
        self, transaction_id: int, connector_id: int | None = None
    ) -> list[InstalledProfile]:
        """Drop the TxProfiles of a finished transaction; return them.

        Removed: TxProfiles whose transactionId is ``transaction_id`` (any connector), plus
        TxProfiles *without* a transactionId on the transaction's connector. Why the latter: a
        TxProfile can only exist while a transaction runs (RemoteStart profiles, or a
        SetChargingProfile that omitted transactionId), so an unbound TxProfile on that connector
        belonged to this transaction and the station deletes it when the transaction ends.
        The connector is ``connector_id`` if given, else inferred from a bound TxProfile; if
        neither is known, unbound TxProfiles are left alone (we cannot tell whose they are).
        """
        connectors: set[int] = set()
        if connector_id is not None:
            connectors.add(connector_id)
        else:
            connectors.update(
                e.connector_id
                for e in self._entries
                if _is_tx(e) and e.profile.get("transactionId") == transaction_id
            )

        def ended(entry: InstalledProfile) -> bool:
            if not _is_tx(entry):
                return False
            tx = entry.profile.get("transactionId")
            return tx == transaction_id or (tx is None and entry.connector_id in connectors)

        return self._remove_where(ended)

    def _remove_where(self, predicate: _Predicate) -> list[InstalledProfile]:
        removed = [e for e in self._entries if predicate(e)]
        if removed:
            self._entries = [e for e in self._entries if not predicate(e)]
        return [_copy(e) for e in removed]

    # --- queries --------------------------------------------------------------------------

    def for_connector(self, connector_id: int) -> list[dict[str, Any]]:
        """Copies of the profiles set on ``connector_id``, in installation order."""
        return [copy.deepcopy(e.profile) for e in self._entries if e.connector_id == connector_id]

    def by_connector(self) -> dict[int, list[dict[str, Any]]]:
        """All profiles grouped per connector — the input ``composite_schedule`` expects."""
        grouped: dict[int, list[dict[str, Any]]] = {}
        for entry in self._entries:
            grouped.setdefault(entry.connector_id, []).append(copy.deepcopy(entry.profile))
        return grouped

    def __iter__(self) -> Iterator[InstalledProfile]:
        # Copies, so callers cannot bypass the replacement rules by mutating entries.
        return iter([_copy(e) for e in self._entries])

    def __len__(self) -> int:
        return len(self._entries)

    # --- serialisation --------------------------------------------------------------------

    def to_list(self) -> list[dict[str, Any]]:
        """JSON-ready list of ``{"connectorId", "csChargingProfiles"}`` in installation order."""
        return [e.to_dict() for e in self._entries]

    @classmethod
    def from_list(cls, items: Iterable[Mapping[str, Any]]) -> InstalledProfiles:
        """Inverse of ``to_list`` (replaying the installs, so the rules stay enforced)."""
        return cls(
            InstalledProfile(int(item["connectorId"]), dict(item["csChargingProfiles"]))
            for item in items
        )


def _is_tx(entry: InstalledProfile) -> bool:
    return entry.profile.get("chargingProfilePurpose") == TX_PROFILE


def _copy(entry: InstalledProfile) -> InstalledProfile:
    return InstalledProfile(entry.connector_id, copy.deepcopy(entry.profile))
