"""The client's actions and their suggested bindings for common controller profiles.

Pure data: :mod:`.input` turns it into OpenXR action sets and suggested bindings. Every
action has a left and a right sub-action (one state per hand). A profile entry
``(action, component)`` binds the same component of both hands; ``(action, left, right)``
binds a different one on each hand (Touch: Y on the left, B on the right).
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
TIMELINE = ActionSpec("timeline", "Show or hide the timeline", "boolean")
CONFIRM = ActionSpec("confirm", "Confirm the training step", "boolean")
HINT = ActionSpec("hint", "Training hint", "boolean")
ACTIONS = (AIM, GRIP, SELECT, SQUEEZE, STICK, MENU, TIMELINE, CONFIRM, HINT)

#: profile path -> (action name, input component under each hand [, under the right hand])
PROFILES: dict[str, tuple[tuple[str, ...], ...]] = {
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
        ("timeline", "input/y/click", "input/b/click"),
        ("confirm", "input/x/click", "input/a/click"),
        ("hint", "input/thumbstick/click"),
    ),
    "/interaction_profiles/valve/index_controller": (
        ("aim", "input/aim/pose"),
        ("grip", "input/grip/pose"),
        ("select", "input/trigger/value"),
        ("squeeze", "input/squeeze/value"),
        ("move", "input/thumbstick"),
        ("menu", "input/b/click"),
        ("timeline", "input/trackpad/force"),
        ("confirm", "input/a/click"),
        ("hint", "input/thumbstick/click"),
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
        ("timeline", "input/trackpad/click"),
        ("hint", "input/thumbstick/click"),
    ),
}


def suggested_paths(profile: str) -> list[tuple[str, str]]:
    """``(action name, full input path)`` for both hands of one profile.

    The Touch controller's menu button exists on the left hand only, so it is not bound.
    The simple and Vive controllers have no spare button for the timeline: its panel, shown
    from the start, stays up there. Where no button confirms a training step, the trigger
    on the step's machine does (as it does everywhere).
    """
    return [
        (entry[0], f"{hand}/{entry[1 + i] if len(entry) > 2 else entry[1]}")
        for entry in PROFILES[profile]
        for i, hand in enumerate(HANDS)
    ]
