"""Identity resolution: one customer across mini-program, website and APP (docs/identity.md)."""
