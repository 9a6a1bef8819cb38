"""The local stack: moto (DynamoDB, SQS, Step Functions executing the real ASL, Scheduler, KMS, Secrets Manager,
Lambda routed to the handlers; qbsync.local.moto_service), the local gateway and the emulators, on 127.0.0.1.

AWS resources are created from the synthesized CDK template (infra.local_resources), so the local tables and
queues cannot drift from what is deployed. Handlers find everything through the same environment variables
they get on Lambda; boto3 and PynamoDB reach moto through AWS_ENDPOINT_URL, so no code path is local-only."""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import threading
import warnings
import zipfile
from pathlib import Path

from emulators.common.server import RunningServer, start
from qbsync.local import lambdas
from qbsync.local.moto_service import InProcessMoto, MotoProcess

REGION = "us-east-1"
# How long the hints poller waits after an empty receive, unless a batch finishes first (it may free its group).
IDLE_POLL_S = 0.1
ACCOUNT = "123456789012"
LOCAL_CLIENT_ID, LOCAL_CLIENT_SECRET = "local-client-id", "local-client-secret"
LOCAL_VERIFIER_TOKEN = "local-verifier-token"
FSP_API_KEY = "local-fsp-api-key"


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("README", "code runs in-process on the local stack")
    return buf.getvalue()


class LocalStack:
    def __init__(self, port: int = 8080, state_dir: str = ".qbsync", persist: bool = True, sandboxes: int = 0):
        """`sandboxes`: 0 runs every Lambda invocation in this process's threads (tests can then replace a
        handler's collaborators); N > 0 runs each in one of up to N processes standing for Lambda's execution
        environments (lambdas.Sandboxes), so companies' invocations share no interpreter, as on Lambda."""
        self.port, self.state_dir, self.persist, self.sandboxes = port, state_dir, persist, sandboxes
        self._sandboxes: lambdas.Sandboxes | None = None
        self._servers: list[RunningServer] = []
        self._processes: list = []  # the emulators' processes, with sandboxes
        self._stop = threading.Event()
        self._batch_done = threading.Event()  # the hints poller's wake-up: a group in flight may have been freed
        self._threads: list[threading.Thread] = []
        self.qbo_app = self.fsp_app = self.qbd_app = None
        self.resources: dict = {}
        self.consumers: list[dict] = []

    def _port(self, offset: int) -> int:
        return 0 if self.port == 0 else self.port + offset

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def page_url(self, tenant_id: str, role: str = "admin") -> str:
        """The admin page with a development sign-in: a dev token in the URL fragment (never sent to a server)."""
        from qbsync.local.devauth import issue_token

        return f"{self.gateway_url}/app/#token={issue_token(tenant_id, role, self.state_dir, ttl_s=12 * 3600)}"

    def urls(self) -> dict:
        return {"gateway": self.gateway_url, "quickbooks": self.qbo_url, "fieldservice": self.fsp_url,
                "aws": self.aws_url}

    def start(self) -> None:
        # One access-log line per request from each of four servers drowns what matters; errors still show.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        Path(self.state_dir).mkdir(parents=True, exist_ok=True)
        # Powertools warns on stderr for every invocation that published no metric; Lambda files that in the log.
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        self.lambda_log = str(Path(self.state_dir) / "lambda.log")
        lambdas.send_output_to(self.lambda_log)
        self._start_moto()
        self._start_emulators()
        self._provision()
        self._start_gateway()
        if self.sandboxes:  # after every environment variable the handlers read is set: spawned processes copy them
            self._sandboxes = lambdas.Sandboxes(self.sandboxes, self.lambda_log, self.resources["handlers"])
            lambdas.run_in(self._sandboxes)
        self._start_workers()

    def _start_moto(self) -> None:
        """moto on a thread here, or, with sandboxes, in a process of its own (qbsync.local.moto_service)."""
        service = MotoProcess if self.sandboxes else InProcessMoto
        self._moto = service(self._port(3), lambdas.invoke)
        self.aws_url = self._moto.url
        os.environ.update({"AWS_ENDPOINT_URL": self.aws_url, "AWS_ACCESS_KEY_ID": "local",
                           "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
                           "POWERTOOLS_TRACE_DISABLED": "1", "POWERTOOLS_METRICS_NAMESPACE": "qbsync",
                           "POWERTOOLS_DEV": "0",
                           # oauthlib refuses plain http; only the local emulators speak it (Intuit is https).
                           "OAUTHLIB_INSECURE_TRANSPORT": "1"})

    def dynamodb_served(self) -> dict:
        """The DynamoDB calls moto has served so far, by action, and the seconds it spent on them (benchmarks)."""
        return self._moto.served()

    def _start_emulators(self) -> None:
        """QuickBooks Online, the platform, and QuickBooks Desktop with its Web Connector (docs/emulator-qbdesktop.md,
        polling the gateway's /qbwc): on threads here, or, with sandboxes, each in a process of its own
        (qbsync.local.emulator_process), reached over HTTP only."""
        state = Path(self.state_dir)
        files = {name: str(state / f"{name}.json") if self.persist else None
                 for name in ("quickbooks", "fieldservice", "qbdesktop")}
        if self.sandboxes:
            from qbsync.local.emulator_process import EmulatorProcess

            qbo, fsp, qbd = (EmulatorProcess(name, self._port(offset), files[name])
                             for name, offset in (("quickbooks", 1), ("fieldservice", 2), ("qbdesktop", 4)))
            self._processes += [qbo, fsp, qbd]
        else:
            from emulators.fieldservice.app import create_app as fsp_app
            from emulators.qbdesktop.app import create_app as qbd_app
            from emulators.quickbooks.app import create_app as qbo_app

            self.qbo_app = qbo_app(state_file=files["quickbooks"], webhook_url=None,
                                   verifier_token=LOCAL_VERIFIER_TOKEN)
            self.fsp_app = fsp_app(state_file=files["fieldservice"], webhook_url=None)
            self.qbd_app = qbd_app(state_file=files["qbdesktop"])
            qbo, fsp, qbd = (start(app, self._port(offset))
                             for app, offset in ((self.qbo_app, 1), (self.fsp_app, 2), (self.qbd_app, 4)))
            self._servers += [qbo, fsp, qbd]
        self.qbo_url, self.fsp_url, self.qbd_url = qbo.url, fsp.url, qbd.url

    def _start_gateway(self) -> None:
        from qbsync.local.devauth import JwtVerifier
        from qbsync.local.gateway import Gateway

        web = Path(__file__).resolve().parents[2] / "web"
        gateway = start(Gateway(lambdas.invoke, JwtVerifier(self.state_dir).claims, app_dir=str(web)), self.port)
        self._servers.append(gateway)
        self.gateway_url = gateway.url
        os.environ["OAUTH_REDIRECT_URI"] = f"{self.gateway_url}/oauth/callback"
        self.deliver_webhooks()

    def deliver_webhooks(self, on: bool = True) -> None:
        """Both emulators deliver their webhooks to the gateway, or nowhere (their control APIs, wherever they run)."""
        import requests

        for url, path in ((self.qbo_url, "/webhooks/quickbooks"), (self.fsp_url, "/webhooks/fieldservice")):
            requests.put(f"{url}/_emulator/webhooks", json={"url": f"{self.gateway_url}{path}" if on else None},
                         timeout=10).raise_for_status()

    def _provision(self) -> None:
        import boto3

        from infra import local_resources
        from infra.synth import synth_template

        template = synth_template(stage="local", bundle=False)
        self.consumers = local_resources.queue_consumers(template)
        ddb = boto3.client("dynamodb")
        env: dict[str, str] = {}
        for table in local_resources.dynamodb_tables(template):
            ddb.create_table(**table)
        for table, attr in local_resources.ttl_attributes(template).items():
            ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": attr})
        for name in (t["TableName"] for t in local_resources.dynamodb_tables(template)):
            env[f"TABLE_{name.rsplit('-', 1)[-1].upper()}"] = name
        sqs = boto3.client("sqs")
        for queue in local_resources.queues(template):
            url = sqs.create_queue(**queue)["QueueUrl"]
            env["QUEUE_HINTS_DLQ_URL" if "dlq" in queue["QueueName"].lower() else "QUEUE_HINTS_URL"] = url
        kms = boto3.client("kms")
        env["TOKEN_KEY_ID"] = kms.create_key(Description="local token key")["KeyMetadata"]["Arn"]
        sm = boto3.client("secretsmanager")
        secret = {"client_id": LOCAL_CLIENT_ID, "client_secret": LOCAL_CLIENT_SECRET,
                  "webhook_verifier_token": LOCAL_VERIFIER_TOKEN, "state_signing_key": secrets.token_hex(32),
                  "fsp_api_key": FSP_API_KEY, "fsp_webhook_master_secret": secrets.token_hex(32)}
        created = sm.create_secret(Name="qbsync-local/intuit-app", SecretString=json.dumps(secret))
        env["APP_SECRET_ARN"] = created["ARN"]
        self.resources["secret"] = secret
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                         "Principal": {"Service": "lambda.amazonaws.com"}}]}
        role = boto3.client("iam").create_role(RoleName="qbsync-local-lambda",
                                               AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        lam = boto3.client("lambda")
        arn_of_handler: dict[str, str] = {}
        self.resources["handlers"] = [fn["Handler"] for fn in local_resources.functions(template)]
        for fn in local_resources.functions(template):
            arn_of_handler[fn["Handler"]] = lam.create_function(
                FunctionName=fn["FunctionName"], Runtime="python3.12", Role=role, Handler=fn["Handler"],
                Code={"ZipFile": _zip()}, Timeout=fn["Timeout"], MemorySize=fn["MemorySize"])["FunctionArn"]
        sfn = boto3.client("stepfunctions")
        for machine in local_resources.state_machines(template):
            definition = Path(machine["definition_file"]).read_text()
            for placeholder, handler in machine["substitutions"].items():
                definition = definition.replace("${" + placeholder + "}", arn_of_handler[handler])
            arn = sfn.create_state_machine(name=machine["name"], definition=definition, roleArn=role)["stateMachineArn"]
            kind = machine["name"].rsplit("-", 1)[-1].upper()
            env[f"{kind}_STATE_MACHINE_ARN"] = arn
        scheduler = boto3.client("scheduler")
        for group in local_resources.schedule_groups(template):
            scheduler.create_schedule_group(Name=group)
            env["SCHEDULE_GROUP"] = group
        env.update({"SCHEDULER_ROLE_ARN": role, "STAGE": "local",
                    "QBO_DISCOVERY_URL": f"{self.qbo_url}/.well-known/openid_configuration",
                    "QBO_API_URL": f"{self.qbo_url}/v3", "FSP_API_URL": self.fsp_url})
        os.environ.update(env)
        self.resources["env"] = env

    def _start_workers(self) -> None:
        """The SQS event source mapping: drain the hints queue into the worker handler as Lambda's poller does, with
        up to the mapping's maximum concurrency of batches in flight. One batch at a time would hold every other
        message group behind one company's burst (a receive hands out the oldest visible messages first); Lambda
        keeps taking other groups' batches while one group's is in flight.

        The poller short-polls (WaitTimeSeconds=0) and waits itself between empty receives: moto's long poll spins
        while the queue holds visible messages of a group in flight (its wait wakes at once on "some message is
        visible", finds the group pending, and goes round until the wait time is up), which kept a core busy for
        as long as a company had a backlog and slowed every other thread of this one process, the worker's
        DynamoDB and HTTP calls included. SQS's long poll returns as soon as a deliverable message arrives and
        costs the caller nothing while it waits."""
        queue_url = os.environ.get("QUEUE_HINTS_URL")
        if not queue_url:
            return
        [consumer] = self.consumers
        thread = threading.Thread(target=self._poll, args=(queue_url, consumer), name="hints-poller", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _poll(self, queue_url: str, consumer: dict) -> None:
        import boto3

        sqs = boto3.client("sqs")
        slots = threading.BoundedSemaphore(consumer["max_concurrency"])
        while not self._stop.is_set():
            if not slots.acquire(timeout=1):
                continue
            self._batch_done.clear()
            try:
                msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=consumer["batch_size"],
                                           WaitTimeSeconds=0, AttributeNames=["All"]).get("Messages", [])
            except Exception:  # noqa: BLE001 - Lambda's poller keeps polling through errors too
                slots.release()
                logging.getLogger(__name__).warning("polling the hints queue failed; retrying", exc_info=True)
                self._stop.wait(1)
                continue
            if not msgs:
                slots.release()
                self._batch_done.wait(IDLE_POLL_S)
                continue
            threading.Thread(target=self._deliver, args=(sqs, queue_url, consumer, msgs, slots),
                             name="hints-worker", daemon=True).start()

    def _deliver(self, sqs, queue_url: str, consumer: dict, msgs: list[dict], slots: threading.Semaphore) -> None:
        """One invocation of the worker with one received batch; what it did not report as failed is deleted."""
        try:
            event = {"Records": [{"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
                                  "attributes": m.get("Attributes", {}), "eventSource": "aws:sqs",
                                  "eventSourceARN": f"arn:aws:sqs:{REGION}:{ACCOUNT}:hints"} for m in msgs]}
            try:
                result = lambdas.invoke(consumer["handler"], event, "webhooks-worker") or {}
            except Exception:  # noqa: BLE001 - the messages stay on the queue and are redelivered, as on Lambda
                logging.getLogger(__name__).exception("hints worker failed; messages will be redelivered")
                return
            failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            for m in msgs:
                if m["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
        finally:
            slots.release()
            self._batch_done.set()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=3)
        if self._sandboxes is not None:
            lambdas.run_in(None)
            self._sandboxes.close()
        for server in reversed(self._servers):
            server.stop()
        for process in self._processes:
            process.stop()
        for app in (self.qbo_app, self.fsp_app, self.qbd_app):
            if app is not None and hasattr(app, "close"):
                app.close()
        self._moto.stop()
