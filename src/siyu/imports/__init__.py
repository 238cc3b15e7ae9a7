"""Imports of CSV exports from other systems: historical orders and members (``siyu import ...``)."""
