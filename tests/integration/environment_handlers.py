"""Handlers for the tests of the local stack's execution environments (test_lambda_environments.py)."""

import os
import signal
import time


class Throttled(Exception):  # noqa: N818 - named as the product's own exception the state machines retry on
    pass


def where(event, context):
    if event.get("say"):
        print(event["say"])
    time.sleep(event.get("sleep", 0))
    return {"pid": os.getpid(), "function_name": context.function_name}


def throttled(event, context):
    raise Throttled("slow down")


def crash(event, context):
    os._exit(1)


def killed(event, context):
    os.kill(os.getpid(), signal.SIGKILL)
