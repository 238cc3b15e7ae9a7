"""Sources: one per channel app (mini-program, website, APP, server), each with its own write key."""
