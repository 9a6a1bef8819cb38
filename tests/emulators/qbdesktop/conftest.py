import pytest

from emulators.common.server import start
from emulators.qbdesktop.app import create_app
from tests.emulators.qbdesktop.helpers import Desk


@pytest.fixture
def desk():
    app = create_app()
    server = start(app, 0)
    yield Desk(server.url)
    server.stop()
    app.close()
