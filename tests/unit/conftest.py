import pytest
from pytest_socket import disable_socket


@pytest.fixture(autouse=True)
def _no_network():
    """Unit tests use fakes: any socket (HTTP to QuickBooks, AWS, ...) is an error here."""
    disable_socket(allow_unix_socket=True)
    yield
