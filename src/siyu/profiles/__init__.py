"""The unified profile: one person's identifiers, channels, traits, counters and timeline."""
