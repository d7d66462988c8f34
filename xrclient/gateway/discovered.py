"""What browsing a plant connection found: one :class:`Found` per data point, ready to be
matched to scene machines and written as a mapping feed."""

from __future__ import annotations

from dataclasses import dataclass, field

from xrclient.core.twin_schema import PropKind

__all__ = ["Found"]


@dataclass(frozen=True)
class Found:
    """One data point of a plant connection."""

    #: display or browse names from the top down to the point's parent object
    names: tuple[str, ...]
    #: the point's own name (an OPC UA variable's browse name, an MQTT topic's last level)
    leaf: str
    kind: PropKind
    unit: str
    #: the mapping feed table for this point, e.g. ``{"node": "nsu=urn:x;s=M1.temp"}``
    feed: dict[str, object]
    #: namespace aliases the feed uses -> namespace URIs
    namespaces: dict[str, str] = field(default_factory=dict)
    #: the enum's value names, when the source declares them
    values: tuple[str, ...] = ()
