"""Workers: consumers of the bus. The warehouse worker writes collected events to the event store."""
