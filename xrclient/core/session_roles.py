"""Who may do what in a session: roles, actions and the one permission table.

``allowed`` is asked by the hub for every message and by the clients only to grey out
what the user may not do.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping


class Role(enum.Enum):
    EXPERT = "expert"
    OPERATOR = "operator"
    TRAINEE = "trainee"
    OBSERVER = "observer"


class Action(enum.Enum):
    POSE = "pose"
    CHAT = "chat"
    PING = "ping"
    CREATE = "create annotations"
    EDIT_OWN = "edit own annotations"
    EDIT_ANY = "edit others' annotations"
    DELETE_OWN = "delete own annotations"
    DELETE_ANY = "delete others' annotations"
    LEAD = "lead (follow me)"
    FOLLOW = "follow"
    SUMMON = "summon"
    TIMELINE = "share the timeline (take everyone to a moment of history)"
    TRAIN_REPORT = "report training progress and results"
    TRAIN_CONTROL = "advance or reset a trainee's procedure"
    TRAIN_RESULTS = "read training results"


_E, _O, _T, _V = Role.EXPERT, Role.OPERATOR, Role.TRAINEE, Role.OBSERVER
#: who may do what; observers are spectators (no avatar, read-only)
PERMISSIONS: Mapping[Action, frozenset[Role]] = {
    Action.POSE: frozenset({_E, _O, _T}),
    Action.CHAT: frozenset({_E, _O, _T}),
    Action.PING: frozenset({_E, _O, _T}),
    Action.CREATE: frozenset({_E, _O, _T}),
    Action.EDIT_OWN: frozenset({_E, _O, _T}),
    Action.EDIT_ANY: frozenset({_E, _O}),
    Action.DELETE_OWN: frozenset({_E, _O, _T}),
    Action.DELETE_ANY: frozenset({_E}),
    Action.LEAD: frozenset({_E, _O}),
    Action.FOLLOW: frozenset({_E, _O, _T, _V}),
    Action.SUMMON: frozenset({_E}),
    #: and the room allows only experts and the current leader (see ``Room.handle``)
    Action.TIMELINE: frozenset({_E, _O}),
    Action.TRAIN_REPORT: frozenset({_E, _O, _T}),
    Action.TRAIN_CONTROL: frozenset({_E}),
    Action.TRAIN_RESULTS: frozenset({_E}),
}


def allowed(role: Role, action: Action) -> bool:
    return role in PERMISSIONS[action]
