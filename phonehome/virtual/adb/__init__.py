"""Device-side ADB: the transport (messages, streams, AUTH) and the sync and shell services."""
