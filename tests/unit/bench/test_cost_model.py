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
