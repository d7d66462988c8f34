"""Connecting to the OpenXR runtime: instance, extension negotiation and the headset system.

Failures a user can meet (no runtime installed, no headset, a runtime without an OpenGL
binding) become :class:`XrUnavailable` with a sentence saying what to do.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import xr

from xrclient.errors import XRClientError

log = logging.getLogger(__name__)

OPENGL = "XR_KHR_opengl_enable"
HEADLESS = "XR_MND_headless"
#: used when the runtime has them; the client works without
OPTIONAL_EXTENSIONS = (
    "XR_EXT_local_floor",  # a floor-level space without a room-scale boundary
    "XR_EXT_hp_mixed_reality_controller",
    "XR_EXT_debug_utils",
)


class XrUnavailable(XRClientError):
    """The headset cannot be used: no runtime, no headset, no suitable graphics binding."""


@dataclass(frozen=True, slots=True)
class Negotiated:
    enabled: tuple[str, ...]
    missing_required: tuple[str, ...]
    missing_optional: tuple[str, ...]


def negotiate(
    available: Iterable[str], required: Sequence[str], optional: Sequence[str] = ()
) -> Negotiated:
    """Which extensions to enable: every required one (``missing_required`` lists those the
    runtime lacks) and the optional ones it has, in the order asked, without duplicates."""
    have = set(available)
    wanted = list(dict.fromkeys([*required, *optional]))
    return Negotiated(
        enabled=tuple(e for e in wanted if e in have),
        missing_required=tuple(e for e in required if e not in have),
        missing_optional=tuple(e for e in optional if e not in have and e not in required),
    )


def _runtime_hint() -> str:
    path = os.environ.get("XR_RUNTIME_JSON")
    if path:
        exists = "exists" if os.path.isfile(path) else "does not exist"
        return f"XR_RUNTIME_JSON={path} ({exists})"
    return (
        "start your runtime (SteamVR, Meta Quest Link, Monado, WMR) and make it the active "
        "OpenXR runtime, or set XR_RUNTIME_JSON to its manifest"
    )


def available_extensions() -> list[str]:
    try:
        props = xr.enumerate_instance_extension_properties()
    except xr.XrException as exc:
        raise XrUnavailable(f"no OpenXR runtime found ({exc}); {_runtime_hint()}") from exc
    return [p.extension_name.decode() for p in props]


@dataclass(slots=True)
class Runtime:
    """An OpenXR instance and the head-mounted system it reports."""

    instance: xr.Instance
    system: xr.SystemId
    extensions: tuple[str, ...]
    runtime_name: str
    system_name: str
    headless: bool
    blend_modes: tuple[int, ...] = ()
    view_sizes: tuple[tuple[int, int], ...] = ()
    _destroyed: bool = field(default=False, repr=False)

    def path(self, text: str) -> xr.Path:
        return xr.string_to_path(self.instance, text)

    def find_system(self) -> bool:
        """Ask again for the headset (after a loss); False while it is not back."""
        try:
            self.system = xr.get_system(
                self.instance, xr.SystemGetInfo(form_factor=xr.FormFactor.HEAD_MOUNTED_DISPLAY)
            )
        except xr.FormFactorUnavailableError:
            return False
        return True

    def destroy(self) -> None:
        if not self._destroyed:
            self._destroyed = True
            xr.destroy_instance(self.instance)


def open_runtime(
    *,
    headless: bool = False,
    app_name: str = "xrclient",
    optional: Sequence[str] = OPTIONAL_EXTENSIONS,
) -> Runtime:
    """Create the instance (logging the extensions enabled) and find the headset."""
    required = [HEADLESS] if headless else [OPENGL]
    got = negotiate(available_extensions(), required, optional)
    if got.missing_required:
        what = (
            "an OpenGL graphics binding"
            if OPENGL in got.missing_required
            else ", ".join(got.missing_required)
        )
        raise XrUnavailable(
            f"the OpenXR runtime does not offer {what} ({', '.join(got.missing_required)})"
        )
    log.info("OpenXR extensions enabled: %s", ", ".join(got.enabled))
    if got.missing_optional:
        log.info("OpenXR extensions not offered: %s", ", ".join(got.missing_optional))
    try:
        instance = xr.create_instance(
            xr.InstanceCreateInfo(
                application_info=xr.ApplicationInfo(
                    application_name=app_name,
                    application_version=1,
                    engine_name="xrclient",
                    engine_version=1,
                    api_version=xr.Version(1, 0, 0),
                ),
                enabled_extension_names=list(got.enabled),
            )
        )
    except xr.XrException as exc:
        raise XrUnavailable(f"cannot start the OpenXR runtime ({exc}); {_runtime_hint()}") from exc
    try:
        props = xr.get_instance_properties(instance)
        try:
            system = xr.get_system(
                instance, xr.SystemGetInfo(form_factor=xr.FormFactor.HEAD_MOUNTED_DISPLAY)
            )
        except xr.FormFactorUnavailableError as exc:
            raise XrUnavailable(
                "no headset: the OpenXR runtime reports no head-mounted display "
                "(connect and switch on the headset, then start again)"
            ) from exc
        sprops = xr.get_system_properties(instance, system)
        stereo = xr.ViewConfigurationType.PRIMARY_STEREO
        blend = tuple(
            int(m) for m in xr.enumerate_environment_blend_modes(instance, system, stereo)
        )
        views = xr.enumerate_view_configuration_views(instance, system, stereo)
        sizes = tuple(
            (int(v.recommended_image_rect_width), int(v.recommended_image_rect_height))
            for v in views
        )
    except BaseException:
        xr.destroy_instance(instance)
        raise
    rt = Runtime(
        instance=instance,
        system=system,
        extensions=got.enabled,
        runtime_name=f"{props.runtime_name.decode()} {props.runtime_version}",
        system_name=sprops.system_name.decode(),
        headless=headless,
        blend_modes=blend,
        view_sizes=sizes,
    )
    log.info("OpenXR runtime %s, system %s", rt.runtime_name, rt.system_name)
    return rt
