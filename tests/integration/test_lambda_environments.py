"""The local stack's Lambda execution environments as processes (qbsync.local.lambdas.Sandboxes), and the local
stack running every invocation in them: what the fairness benchmarks use (bench/webhooks.py, bench/fairness.py)."""

import os
import threading
import time

import pytest

from qbsync.local.lambdas import Sandboxes

pytestmark = pytest.mark.integration

HANDLERS = "tests.integration.environment_handlers"
SANDBOXES = 3  # the module's local stack (tests/integration/conftest.py)


@pytest.fixture
def environments(tmp_path):
    log = tmp_path / "lambda.log"
    pool = Sandboxes(2, str(log), [f"{HANDLERS}.where", f"{HANDLERS}.throttled", f"{HANDLERS}.crash",
                                f"{HANDLERS}.killed"])
    yield pool, log
    pool.close()


def test_an_invocation_runs_in_another_process_and_its_output_goes_to_the_functions_log(environments):
    pool, log = environments
    answer = pool.invoke(f"{HANDLERS}.where", {"say": "hello from the environment"}, "fn")
    assert answer["pid"] != os.getpid()
    assert answer["function_name"] == "fn"
    assert "hello from the environment" in log.read_text()


def test_the_most_recently_used_environment_takes_the_next_invocation(environments):
    pool, _ = environments
    assert len({pool.invoke(f"{HANDLERS}.where", {}, "fn")["pid"] for _ in range(5)}) == 1


def test_a_function_keeps_its_own_environments_and_another_functions_burst_does_not_take_them(environments):
    """As on Lambda: `fn`'s warm environment is not lent to `other`, whose invocations take the unused one; only
    when every environment is taken does a function take another's idle one."""
    pool, _ = environments
    mine = pool.invoke(f"{HANDLERS}.where", {}, "fn")["pid"]
    theirs = {pool.invoke(f"{HANDLERS}.where", {}, "other")["pid"] for _ in range(3)}
    assert theirs and mine not in theirs
    assert pool.invoke(f"{HANDLERS}.where", {}, "fn")["pid"] == mine
    assert pool.invoke(f"{HANDLERS}.where", {}, "third")["pid"] in theirs  # the least recently used idle one


def test_invocations_at_once_run_side_by_side_and_one_more_waits_for_a_free_environment(environments):
    pool, _ = environments
    answers: list[dict] = []

    def invoke():
        answers.append(pool.invoke(f"{HANDLERS}.where", {"sleep": 0.5}, "fn"))

    threads = [threading.Thread(target=invoke) for _ in range(3)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({a["pid"] for a in answers}) == 2  # two environments, three invocations
    assert time.monotonic() - started >= 1.0  # the third ran after one of the first two


def test_a_handlers_error_is_raised_under_its_own_type_name_as_step_functions_matches_it(environments):
    pool, _ = environments
    with pytest.raises(Exception) as raised:
        pool.invoke(f"{HANDLERS}.throttled", {}, "fn")
    assert type(raised.value).__name__ == "Throttled"
    assert str(raised.value) == "slow down"


def test_an_environment_that_dies_is_reported_with_how_it_ended_and_replaced(environments):
    """As Lambda reports it: "Runtime exited with error: exit status 1", or "signal: killed"."""
    pool, _ = environments
    with pytest.raises(Exception) as raised:
        pool.invoke(f"{HANDLERS}.crash", {}, "fn")
    assert type(raised.value).__name__ == "Runtime.ExitError"
    assert str(raised.value).startswith("Runtime exited with error: exit status 1")
    with pytest.raises(Exception) as raised:
        pool.invoke(f"{HANDLERS}.killed", {}, "fn")
    assert str(raised.value).startswith("Runtime exited with error: signal: killed")
    test_invocations_at_once_run_side_by_side_and_one_more_waits_for_a_free_environment(environments)


def test_an_invocation_in_flight_when_the_stack_stops_is_reported_as_stopped_with_it(tmp_path, caplog):
    """close() ends every environment with SIGTERM: an invocation still running then reads "signal: terminated",
    which is the stack stopping, not an environment that died (the benchmarks stop their stack with runs in flight)."""
    pool = Sandboxes(1, str(tmp_path / "lambda.log"), [f"{HANDLERS}.where"])
    raised: list[Exception] = []

    def slow():
        try:
            pool.invoke(f"{HANDLERS}.where", {"sleep": 30}, "fn")
        except Exception as exc:  # noqa: BLE001 - what the invoker saw
            raised.append(exc)

    caller = threading.Thread(target=slow)
    caller.start()
    time.sleep(1)
    pool.close()
    caller.join(timeout=15)
    assert [str(e).split(" (")[0] for e in raised] == ["Runtime exited with error: signal: terminated"]
    assert any("stopped with the stack (signal: terminated)" in r.getMessage() and r.levelname == "WARNING"
               for r in caplog.records)


def test_on_the_stack_in_environments_a_company_onboards_and_its_edits_cross_by_webhook(local_stack, onboard):
    """Onboarding's state machine (moto's Step Functions invoking the tasks), the gateway's handlers and the hints
    worker all run in the environments; a platform edit then reaches QuickBooks and a QuickBooks edit the platform."""
    from shared.runtime import runtime

    _, driver = local_stack
    _, realm = onboard("t-env", "Environment Plumbing", seed=43, clients=8)
    ids = [c["id"] for c in driver.platform_records("t-env", "clients") if c["active"]]
    links = runtime().sync_deps("t-env").links.get_many("t-env", "customer", ids)
    (client, customer_of_client), (client_of_customer, customer) = [(i, links[i].qbo_id) for i in ids if i in links][:2]
    current = driver.platform_api("GET", "t-env", f"clients/{client}")
    driver.platform_api("PATCH", "t-env", f"clients/{client}",
                        {"contact": {**(current.get("contact") or {}), "phone": "(480) 555-0143"}})
    token = driver.quickbooks_call(realm, "GET", f"customer/{customer}")["Customer"]["SyncToken"]
    driver.quickbooks_call(realm, "POST", "customer", {"Id": customer, "SyncToken": token, "sparse": True,
                                                        "PrimaryEmailAddr": {"Address": "env@books.example"}})

    def crossed() -> bool:
        books = {q["Id"]: q for q in driver.quickbooks_entities(realm, "Customer")}
        platform = {c["id"]: c for c in driver.platform_records("t-env", "clients")}
        return ((books[customer_of_client].get("PrimaryPhone") or {}).get("FreeFormNumber") == "(480) 555-0143"
                and (platform[client_of_customer].get("contact") or {}).get("email") == "env@books.example")

    deadline = time.monotonic() + 60
    while not crossed():
        assert time.monotonic() < deadline, "an edit did not cross within 60 s"
        time.sleep(0.25)

