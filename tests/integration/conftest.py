import os

import pytest


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory, request):
    """One local stack for the module, stopped before other tests run in this process. Its environment and cached
    clients are undone afterwards so other tests keep their in-process mocks. A module's `SANDBOXES = N` runs the
    stack's Lambda invocations in N processes (qbsync.local.lambdas.Sandboxes) instead of this process's threads."""
    from qbsync.local.driver import Driver
    from qbsync.local.stack import FSP_API_KEY, LocalStack

    saved = dict(os.environ)
    _forget_clients()
    state_dir = str(tmp_path_factory.mktemp("stack"))
    stack = LocalStack(port=0, state_dir=state_dir, persist=False, sandboxes=getattr(request.module, "SANDBOXES", 0))
    stack.start()
    driver = Driver(stack.urls(), state_dir, FSP_API_KEY, stack.resources["secret"]["fsp_webhook_master_secret"],
                    timeout_s=300)
    try:
        yield stack, driver
    finally:
        stack.stop()
        # moto's backends are process-wide: the next module's stack (same xdist worker) must start empty.
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
        os.environ.clear()
        os.environ.update(saved)
        _forget_clients()


def _forget_clients():
    """Clients cached by earlier tests in this process (in-process moto) would bypass the stack's endpoints; a Lambda
    container starts with none, so the stack's handlers must too."""
    from functions.admin.service import service
    from functions.webhooks.receiver import intake
    from functions.webhooks.worker import applier, dead_letters
    from shared.aws.clients import client
    from shared.config import load_env
    from shared.runtime import runtime

    client.cache_clear()
    runtime.cache_clear()
    load_env.cache_clear()  # the environment of an earlier module's stack (its ports, tables, key)
    for built_once_per_container in (service, intake, applier, dead_letters):
        built_once_per_container.cache_clear()
    from aws_lambda_powertools.utilities import parameters

    parameters.clear_caches()  # Powertools' secrets provider keeps its boto3 client (the old endpoint) and values


@pytest.fixture(scope="module")
def onboard(local_stack):
    """Makes a company as a new user would on the module's stack: a QuickBooks realm and a platform tenant with
    generated data, connected, the demo's settings, onboarding run, then one Sync Now, which settles the echoes of
    onboarding's writes so a test meets a company in its steady state. Answers (data, realm)."""
    from emulators.datagen.generator import generate
    from qbsync.demo import demo_settings

    _, driver = local_stack

    def onboard_tenant(tenant: str, company: str, *, seed: int, clients: int, prefs: dict | None = None):
        data = generate(seed=seed, clients=clients)
        realm = driver.create_realm(company)
        driver.load_quickbooks(realm, data.quickbooks_json())
        if prefs:
            driver.set_preferences(realm, prefs)
        driver.create_tenant(tenant, data.fieldservice)
        driver.connect(tenant, realm)
        driver.settings(tenant, demo_settings(driver, tenant))
        onboarding = driver.enable(tenant)
        assert onboarding["status"] == "succeeded", onboarding
        first = driver.sync_now(tenant)
        assert first["status"] == "succeeded", first
        return data, realm

    return onboard_tenant


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium through Playwright, one per module (tests/integration/chromium.py)."""
    from pathlib import Path

    from playwright.sync_api import sync_playwright

    from tests.integration.chromium import AXE, CHROMIUM, FLAGS

    assert Path(CHROMIUM).exists(), "Debian's chromium is missing: `make test` installs it (apt-get install chromium)"
    assert AXE.exists(), "axe-core is missing: `make test` installs it (npm ci --prefix tests/browser)"
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()
