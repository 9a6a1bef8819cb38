"""bench/cost.py's model of a quiet hourly run: the states a run that does its work enters."""

from bench.cost import single_pass

ASL = {  # the sync machine's shape: a way out first, then a step that loops until done, then an optional pass again
    "StartAt": "Start",
    "States": {
        "Start": {"Type": "Task", "Next": "Stop?"},
        "Stop?": {"Type": "Choice", "Choices": [{"Next": "Succeeded"}], "Default": "Work"},
        "Work": {"Type": "Task", "Next": "WorkDone?"},
        "WorkDone?": {"Type": "Choice", "Choices": [{"Next": "Finish"}], "Default": "Work"},
        "Finish": {"Type": "Task", "Next": "Again?"},
        "Again?": {"Type": "Choice", "Choices": [{"Next": "Start"}], "Default": "Succeeded"},
        "Succeeded": {"Type": "Succeed"},
        "RecordFailure": {"Type": "Task", "Next": "Failed"},
        "Failed": {"Type": "Fail"},
    },
}


def test_a_quiet_run_enters_every_step_once_not_the_way_out_of_a_folded_run():
    # Start, Stop?, Work, WorkDone?, Finish, Again?, Succeeded; three Lambda tasks.
    assert single_pass(ASL) == (7, 3)


def test_a_machine_ending_on_a_task_counts_that_task():
    asl = {"StartAt": "A", "States": {"A": {"Type": "Task", "Next": "B"}, "B": {"Type": "Task", "End": True}}}
    assert single_pass(asl) == (2, 2)


def test_a_run_with_nothing_to_do_enters_start_the_way_out_and_the_end():
    from bench.cost import quiet_path

    # Start, Stop?, Succeeded: one Lambda task (decision 54).
    assert quiet_path(ASL) == (3, 1)


def test_the_quiet_runs_path_and_calls_are_the_measured_ones_when_the_benchmark_recorded_them():
    from bench.cost import sync_run_cost

    measured = {"steady_state_1000": {"quiet_run_again": {"path": {"states": 3, "tasks": 1}, "dynamodb_ops": 20}}}
    cost = sync_run_cost(measured)
    assert (cost["transitions_per_run"], cost["task_invocations_per_run"]) == (3, 1)
    assert cost["path_measured_by"] == "steady_state_1000" and cost["dynamodb_calls_per_run_measured"] == 20
    stale = {"steady_state": {"quiet_run_again": {"dynamodb_ops": 134}}}  # before runs recorded their path
    assert sync_run_cost(stale)["path_measured_by"] == "sync.asl.json"
    assert sync_run_cost(stale)["transitions_per_working_run"] == 18
