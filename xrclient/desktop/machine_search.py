"""Find machines by id or name as people type: exact id, then prefixes, then substrings."""

from __future__ import annotations

from collections.abc import Sequence

from xrclient.scene.model import Machine


class MachineSearch:
    def __init__(self, machines: Sequence[Machine]) -> None:
        self.labels = [f"{m.id}  {m.name}" if m.name and m.name != m.id else m.id for m in machines]
        self._ids = [m.id.casefold() for m in machines]
        self._names = [m.name.casefold() for m in machines]

    def find(self, query: str, limit: int = 6) -> list[int]:
        """Indices of the machines matching ``query`` (case-insensitive), best first."""
        q = query.strip().casefold()
        if not q or limit <= 0:
            return []
        ranked: list[tuple[int, int]] = []
        for i, (mid, name) in enumerate(zip(self._ids, self._names, strict=True)):
            if mid == q:
                rank = 0
            elif mid.startswith(q):
                rank = 1
            elif name.startswith(q) or any(w.startswith(q) for w in name.split()):
                rank = 2
            elif q in mid or q in name:
                rank = 3
            else:
                continue
            ranked.append((rank, i))
        ranked.sort()
        return [i for _, i in ranked[:limit]]
