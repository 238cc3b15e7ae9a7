"""Credentials for the platform API: operator and brand-server tokens with a role and scopes."""
