"""The bus fixture of tests/bus (both implementations), for the worker tests."""

from tests.bus.conftest import kit  # noqa: F401 - a fixture, used by name
