"""Where a study lives: the resolved ``storage`` key, picklable so that workers open it themselves."""

from __future__ import annotations

from dataclasses import dataclass

from hedgeopt.masking import mask


@dataclass(frozen=True)
class StorageSpec:
    """Where the study lives; picklable so worker processes can open it themselves."""

    url: str  # the RDB / redis URL, or the journal file path
    kind: str  # rdb | redis | journal
    heartbeat_interval: int | None = None
    grace_period: int | None = None

    @property
    def masked(self) -> str:
        return mask(self.url)
