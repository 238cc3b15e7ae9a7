"""Collect: the tracking API (Segment/RudderStack wire format) for every channel app."""
