"""OpenXR headset front end: the plant at true scale around the user, on any OpenXR runtime.

The parts that need no runtime are plain modules tested on their own: the session
lifecycle state machine (:mod:`.lifecycle`), view and pose math (:mod:`.poses`), locomotion
(:mod:`.locomotion`), controller interaction (:mod:`.controls`), the binding tables
(:mod:`.bindings`) and the timeline card's layout and input (:mod:`.timeline_layout`,
:mod:`.timeline_input`). The rest talks to the runtime through ``pyopenxr`` (the ``xr`` extra).
"""
