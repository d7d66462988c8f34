"""OpenXR headset front end: the plant at true scale around the user, on any OpenXR runtime.

The parts that need no runtime are plain modules tested on their own: the session
lifecycle state machine (:mod:`.lifecycle`), view and pose math (:mod:`.poses`), locomotion
(:mod:`.locomotion`), controller interaction (:mod:`.controls`) and the binding tables
(:mod:`.bindings`). The rest talks to the runtime through ``pyopenxr`` (the ``xr`` extra).
"""
