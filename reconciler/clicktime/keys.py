"""Each ClickTime collection's natural key, as API fields: the one table that the live reader,
the client's look-up of a create whose answer was lost, and the emulator's messages all read.
A job's key is its client (ClientID; the client's ShortName one level up) and its JobNumber."""

from __future__ import annotations

NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "Clients": ("ShortName",), "Tasks": ("TaskCode",), "Users": ("Email",), "Jobs": ("ClientID", "JobNumber"),
    "Divisions": ("Name",), "EmploymentTypes": ("Name",),
}
