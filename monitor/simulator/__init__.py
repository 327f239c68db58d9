"""A local stand-in for the platforms (server, platforms/) replaying the bundled corpus; never imported on the collection path."""
