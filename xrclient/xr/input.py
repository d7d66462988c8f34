"""Controllers through OpenXR actions: one action set, suggested bindings for the common
controller profiles (:mod:`.bindings`), and per-frame hand states located at the predicted
display time."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import xr

from xrclient.xr.bindings import ACTIONS, HANDS, PROFILES, ActionSpec, suggested_paths
from xrclient.xr.poses import Pose
from xrclient.xr.runtime import Runtime

log = logging.getLogger(__name__)

_TYPES = {
    "pose": xr.ActionType.POSE_INPUT,
    "float": xr.ActionType.FLOAT_INPUT,
    "boolean": xr.ActionType.BOOLEAN_INPUT,
    "vector2": xr.ActionType.VECTOR2F_INPUT,
}
_VALID = xr.SpaceLocationFlags.POSITION_VALID_BIT | xr.SpaceLocationFlags.ORIENTATION_VALID_BIT


@dataclass(frozen=True, slots=True)
class HandState:
    """One hand this frame; poses are in the session's reference (stage) space."""

    aim: Pose | None = None
    grip: Pose | None = None
    select: float = 0.0
    squeeze: float = 0.0
    stick: tuple[float, float] = (0.0, 0.0)
    menu: bool = False
    timeline: bool = False  # the button that shows or hides the timeline
    confirm: bool = False  # training: confirm the step
    hint: bool = False  # training: ask for a hint


NO_HANDS = (HandState(), HandState())

#: the buttons of ``HandState`` that act once per press
Button = Literal["menu", "timeline", "confirm", "hint"]


class ButtonEdges:
    """Which hands pressed a button this frame (its rising edge), for the buttons named:
    a button held down acts once, on the frame it goes down."""

    def __init__(self, *buttons: Button) -> None:
        self._down: dict[Button, list[bool]] = {b: [False, False] for b in buttons}

    def update(self, hands: Sequence[HandState]) -> dict[Button, list[int]]:
        """Per button, the hands (0 left, 1 right) whose button went down since the last call."""
        pressed: dict[Button, list[int]] = {}
        for button, was in self._down.items():
            pressed[button] = []
            for i, hand in enumerate(hands[:2]):
                down = bool(getattr(hand, button))
                if down and not was[i]:
                    pressed[button].append(i)
                was[i] = down
        return pressed


def pose_of(location: Any) -> Pose | None:
    if (int(location.location_flags) & int(_VALID)) != int(_VALID):
        return None
    p, q = location.pose.position, location.pose.orientation
    return Pose((p.x, p.y, p.z), (q.x, q.y, q.z, q.w))


class ActionSet:
    """The client's actions; suggested bindings are made when created (per instance)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.hand_paths = [runtime.path(h) for h in HANDS]
        self.handle = xr.create_action_set(
            runtime.instance,
            xr.ActionSetCreateInfo(
                action_set_name="xrclient", localized_action_set_name="Plant", priority=0
            ),
        )
        self.actions: dict[str, Any] = {}
        self.profiles: list[str] = []
        try:
            for spec in ACTIONS:
                self.actions[spec.name] = self._action(spec)
            for profile in PROFILES:
                self._suggest(profile)
        except BaseException:
            self.destroy()
            raise

    def _action(self, spec: ActionSpec) -> Any:
        return xr.create_action(
            self.handle,
            xr.ActionCreateInfo(
                action_name=spec.name,
                action_type=_TYPES[spec.kind],
                subaction_paths=self.hand_paths,
                localized_action_name=spec.label,
            ),
        )

    def _suggest(self, profile: str) -> None:
        rt = self.runtime
        bindings = [
            xr.ActionSuggestedBinding(self.actions[name], rt.path(path))
            for name, path in suggested_paths(profile)
        ]
        try:
            xr.suggest_interaction_profile_bindings(
                rt.instance,
                xr.InteractionProfileSuggestedBinding(
                    interaction_profile=rt.path(profile), suggested_bindings=bindings
                ),
            )
        except xr.XrException as exc:  # a runtime may not know every profile
            log.warning("controller profile %s not accepted by the runtime: %s", profile, exc)
            return
        self.profiles.append(profile)

    def destroy(self) -> None:
        if self.handle is not None:
            xr.destroy_action_set(self.handle)  # destroys its actions too
            self.handle = None
            self.actions = {}


class HandInput:
    """The action set attached to one session, with aim and grip spaces per hand."""

    def __init__(self, actions: ActionSet, session: Any) -> None:
        self.actions = actions
        self.session = session
        xr.attach_session_action_sets(
            session, xr.SessionActionSetsAttachInfo(action_sets=[actions.handle])
        )
        self.spaces: dict[tuple[str, int], Any] = {}
        for name in ("aim", "grip"):
            for i, path in enumerate(actions.hand_paths):
                self.spaces[name, i] = xr.create_action_space(
                    session,
                    xr.ActionSpaceCreateInfo(
                        action=actions.actions[name],
                        subaction_path=path,
                        pose_in_action_space=xr.Posef(),
                    ),
                )
        self._active = [xr.ActiveActionSet(actions.handle, xr.NULL_PATH)]

    def _get(self, kind: str, name: str, hand: int) -> Any:
        info = xr.ActionStateGetInfo(
            action=self.actions.actions[name], subaction_path=self.actions.hand_paths[hand]
        )
        fn = {
            "float": xr.get_action_state_float,
            "vector2": xr.get_action_state_vector2f,
            "boolean": xr.get_action_state_boolean,
        }[kind]
        return fn(self.session, info)

    def poll(self, display_time: int, base_space: Any, focused: bool) -> tuple[HandState, ...]:
        """Hand states at ``display_time``; buttons read as released unless ``focused``."""
        hands: list[HandState] = []
        if focused:
            xr.sync_actions(self.session, xr.ActionsSyncInfo(active_action_sets=self._active))
        for i in range(len(self.actions.hand_paths)):
            aim = pose_of(xr.locate_space(self.spaces["aim", i], base_space, display_time))
            grip = pose_of(xr.locate_space(self.spaces["grip", i], base_space, display_time))
            if not focused:
                hands.append(HandState(aim, grip))
                continue
            select = self._get("float", "select", i)
            squeeze = self._get("float", "squeeze", i)
            stick = self._get("vector2", "move", i)
            menu = self._get("boolean", "menu", i)
            timeline = self._get("boolean", "timeline", i)
            confirm = self._get("boolean", "confirm", i)
            hint = self._get("boolean", "hint", i)
            hands.append(
                HandState(
                    aim,
                    grip,
                    float(select.current_state) if select.is_active else 0.0,
                    float(squeeze.current_state) if squeeze.is_active else 0.0,
                    (float(stick.current_state.x), float(stick.current_state.y))
                    if stick.is_active
                    else (0.0, 0.0),
                    bool(menu.current_state) if menu.is_active else False,
                    bool(timeline.current_state) if timeline.is_active else False,
                    bool(confirm.current_state) if confirm.is_active else False,
                    bool(hint.current_state) if hint.is_active else False,
                )
            )
        return tuple(hands)

    def destroy(self) -> None:
        for space in self.spaces.values():
            xr.destroy_space(space)
        self.spaces = {}
