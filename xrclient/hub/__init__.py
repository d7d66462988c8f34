"""The session hub: shared rooms, presence relay, persistent annotations, audit log."""
