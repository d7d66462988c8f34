"""The client's actions and their suggested bindings for common controller profiles.

Pure data: :mod:`.input` turns it into OpenXR action sets and suggested bindings. Every
action has a left and a right sub-action (one state per hand).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ActionKind = Literal["pose", "float", "boolean", "vector2"]
HANDS = ("/user/hand/left", "/user/hand/right")


@dataclass(frozen=True, slots=True)
class ActionSpec:
    name: str  # OpenXR action name: lower case, digits, '-', '_', '.'
    label: str  # shown by the runtime's binding UI
    kind: ActionKind


AIM = ActionSpec("aim", "Point (laser)", "pose")
GRIP = ActionSpec("grip", "Hand pose", "pose")
SELECT = ActionSpec("select", "Select machine", "float")
SQUEEZE = ActionSpec("squeeze", "Grab the plant", "float")
STICK = ActionSpec("move", "Teleport and turn", "vector2")
MENU = ActionSpec("menu", "Menu", "boolean")
ACTIONS = (AIM, GRIP, SELECT, SQUEEZE, STICK, MENU)

#: profile path -> (action name, input component under each hand)
PROFILES: dict[str, tuple[tuple[str, str], ...]] = {
    "/interaction_profiles/khr/simple_controller": (
        ("aim", "input/aim/pose"),
        ("grip", "input/grip/pose"),
        ("select", "input/select/click"),
        ("menu", "input/menu/click"),
    ),
    "/interaction_profiles/oculus/touch_controller": (
        ("aim", "input/aim/pose"),
        ("grip", "input/grip/pose"),
        ("select", "input/trigger/value"),
        ("squeeze", "input/squeeze/value"),
        ("move", "input/thumbstick"),
    ),
    "/interaction_profiles/valve/index_controller": (
        ("aim", "input/aim/pose"),
        ("grip", "input/grip/pose"),
        ("select", "input/trigger/value"),
        ("squeeze", "input/squeeze/value"),
        ("move", "input/thumbstick"),
        ("menu", "input/b/click"),
    ),
    "/interaction_profiles/htc/vive_controller": (
        ("aim", "input/aim/pose"),
        ("grip", "input/grip/pose"),
        ("select", "input/trigger/value"),
        ("squeeze", "input/squeeze/click"),
        ("move", "input/trackpad"),
        ("menu", "input/menu/click"),
    ),
    "/interaction_profiles/microsoft/motion_controller": (
        ("aim", "input/aim/pose"),
        ("grip", "input/grip/pose"),
        ("select", "input/trigger/value"),
        ("squeeze", "input/squeeze/click"),
        ("move", "input/thumbstick"),
        ("menu", "input/menu/click"),
    ),
}


def suggested_paths(profile: str) -> list[tuple[str, str]]:
    """``(action name, full input path)`` for both hands of one profile.

    The Touch controller's menu button exists on the left hand only, so it is not bound.
    """
    return [
        (action, f"{hand}/{component}") for action, component in PROFILES[profile] for hand in HANDS
    ]
