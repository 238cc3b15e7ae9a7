"""The value half of analytics: RFM, customer lifetime value, attribution, channel economics, acquisition spend."""
