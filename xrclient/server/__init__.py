"""The twin-stream server side: a deterministic plant simulator and what serves it."""
