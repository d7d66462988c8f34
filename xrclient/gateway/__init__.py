"""Plant connections: OPC UA, MQTT and Sparkplug B sources behind the twin stream, and
the plant simulator speaking the same protocols."""
