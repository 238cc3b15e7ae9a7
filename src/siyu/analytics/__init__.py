"""Analytics over the event store (DuckDB embedded, ClickHouse at scale): one definition per analysis,
written once against :class:`~siyu.analytics.dialect.Dialect`, runs on both engines with identical results.

- ``behaviour``: channel KPIs, funnels, retention cohorts, paths;
- ``value``: RFM, customer lifetime value, attribution, channel economics.
"""
