"""Recording and replaying the twin stream: file format, recorder, reader, replay, timeline."""
