"""The bus and store fixtures of tests/bus and tests/warehouse (both implementations each), for the
worker tests."""

from tests.bus.conftest import kit  # noqa: F401 - a fixture, used by name
from tests.warehouse.conftest import warehouse  # noqa: F401 - a fixture, used by name
