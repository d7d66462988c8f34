"""The desktop front end: a GLFW window, an orbit/fly camera, picking and a HUD."""
