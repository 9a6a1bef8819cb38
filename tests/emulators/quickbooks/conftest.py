import pytest

from emulators.common.server import start
from emulators.quickbooks.app import create_app
from tests.emulators.quickbooks.helpers import ManualClock, connect, new_realm


@pytest.fixture(scope="module")
def emulator():
    app = create_app(webhook_flush_interval=0.05, webhook_retry_scale=0.001)
    server = start(app, 0)
    yield app, server.url
    server.stop()
    app.close()


@pytest.fixture
def clocked():
    """An emulator of its own on a manual clock, for tests that move time."""
    clock = ManualClock()
    app = create_app(clock=clock, webhook_flush_interval=0.05)
    server = start(app, 0)
    yield app, server.url, clock
    server.stop()
    app.close()


@pytest.fixture
def company(emulator):
    """A fresh seeded company, connected through the whole OAuth flow, with python-quickbooks and the adapter."""
    _, url = emulator
    return connect(url, new_realm(url))


@pytest.fixture
def empty_company(emulator):
    _, url = emulator
    return connect(url, new_realm(url, seed=False))
