#!/usr/bin/env python3
"""The whole round trip of an escalation over HTTP only, against the real gateways (run by
tests/system/http_round_trip_system_test.cc, which starts the network and restarts the partner
gateway between phases). Every response received is checked against docs/openapi.yaml
(openapi_check.py) and every webhook received is checked against the contract and its Standard
Webhooks signature.

Phases (one run each; what a later phase needs is kept in --state, a JSON file):
  round-trip  the partner's receiver (this script, on --receiver-port) answers 200. Submit at
              the agent gateway (201, Location), resubmit with the same Idempotency-Key (the same
              case); the receiver gets the signed case.delivered webhook; the partner finds the
              case in its inbox and its feed, acknowledges and replies over its API; the agent's
              /v1/events long poll returns the reply. Then the receiver fails: a second case's
              webhook is answered 500 (twice), then held past the sender's timeout; the script
              records its webhook-id and exits, so the receiver's port refuses connections.
  recover     (after the test restarted the partner gateway, receiver still down for a while)
              the receiver answers 200 again: the second case's webhook arrives with the same
              webhook-id, correctly signed, after the first case's in feed order.
Exit status 0 when every check held; 1 with the failed check on stderr otherwise.
"""

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import sys
import threading
import time
import uuid

import requests

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import openapi_check  # noqa: E402  pylint: disable=wrong-import-position

CONTRACT = openapi_check.OpenApiContract.load()
TIMEOUT = 30  # seconds, any single HTTP call (long polls ask for less)


class CheckFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise CheckFailed(message)


def log(message):
    print("round_trip: " + message, flush=True)


class Api:
    """One gateway's API with a bearer token; every answer is validated against the contract."""

    def __init__(self, base_url, token):
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()  # keep-alive, as contact-point software would
        self.session.headers["Authorization"] = "Bearer " + token
        self.checked = 0

    def call(self, operation_id, method, path, expect_status=None, **kwargs):
        kwargs.setdefault("timeout", TIMEOUT)
        response = self.session.request(method, self.base_url + path, **kwargs)
        errors = CONTRACT.check_response(operation_id, response.status_code,
                                         response.headers.get("Content-Type", ""),
                                         response.content, dict(response.headers))
        self.checked += 1
        expect(not errors, "%s %s: the answer breaks openapi.yaml:\n  %s\n  body: %r" %
               (method, path, "\n  ".join(errors), response.content[:500]))
        if expect_status is not None:
            allowed = expect_status if isinstance(expect_status, tuple) else (expect_status,)
            expect(response.status_code in allowed, "%s %s: status %d, expected %s; body %r" %
                   (method, path, response.status_code, allowed, response.content[:500]))
        return response


def verify_signature(secrets, headers, body):
    """The receiver's check of Standard Webhooks, standard library only (as README shows)."""
    webhook_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "").split(" ")
    expect(timestamp.isdigit() and abs(time.time() - int(timestamp)) <= 300,
           "webhook %s: stale or malformed timestamp %r" % (webhook_id, timestamp))
    signed = ("%s.%s." % (webhook_id, timestamp)).encode() + body
    for secret in secrets:
        key = base64.b64decode(secret.removeprefix("whsec_"))
        mac = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        if any(hmac.compare_digest(mac, s) for s in signatures):
            return
    raise CheckFailed("webhook %s: no signature matches the secret" % webhook_id)


class Receiver:
    """The partner's webhook endpoint: records every request; answers as `mode` says
    ("ok" 200, "fail" 500, "hang": holds the request until another arrives or 25 s pass)."""

    def __init__(self, port, secrets):
        self.secrets = secrets
        self.mode = "ok"
        self.requests = []  # dicts: id, headers, body, event, answered
        self.problems = []
        self.lock = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802 (http.server's name)
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                entry = {"id": headers.get("webhook-id"), "headers": headers, "body": body,
                         "at": time.time()}
                try:
                    errors = CONTRACT.check_webhook(headers, body)
                    expect(not errors, "webhook breaks openapi.yaml: %s" % "; ".join(errors))
                    verify_signature(receiver.secrets, headers, body)
                    entry["event"] = json.loads(body)
                except CheckFailed as error:
                    receiver.problems.append(str(error))
                with receiver.lock:
                    mode = receiver.mode
                    entry["answered"] = {"ok": 200, "fail": 500, "hang": None}[mode]
                    receiver.requests.append(entry)
                    receiver.lock.notify_all()
                    if mode == "hang":
                        count = len(receiver.requests)
                        receiver.lock.wait_for(lambda: len(receiver.requests) > count, 25)
                        entry["answered"] = "timed out"
                        return  # no answer: the sender timed out (it tried again meanwhile)
                status = entry["answered"]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def set_mode(self, mode):
        with self.lock:
            self.mode = mode
            self.lock.notify_all()

    def wait_for(self, predicate, seconds, what):
        deadline = time.time() + seconds
        with self.lock:
            while not predicate(self.requests):
                left = deadline - time.time()
                expect(left > 0, "receiver: timed out waiting for %s; got %s" %
                       (what, [(r["id"], r.get("event", {}).get("type"), r["answered"])
                               for r in self.requests]))
                self.lock.wait(min(left, 0.2))
            expect(not self.problems, "receiver: " + "; ".join(self.problems))
            return list(self.requests)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def for_case(case_id, event_type):
    return lambda r: (r.get("event", {}).get("caseId") == case_id and
                      r.get("event", {}).get("type") == event_type)


def submission(subject):
    return {"agent": "agent-noce-1", "partner": "france-travail",
            "category": "unemployment-benefits", "subject": subject,
            "body": "Allocation suspendue depuis octobre.", "citizen": "Jeanne Martin",
            "consent": True}


def submit(agent, subject, key):
    """Submits; the case's view once it has a case id. A 202 (the broker did not answer within
    the gateway's forward timeout, which a loaded machine may cause) is followed until the
    held submission has its case id."""
    response = agent.call("submitCase", "POST", "/v1/cases", (201, 202), json=submission(subject),
                          headers={"Idempotency-Key": key})
    view = response.json()
    ref = view.get("caseId") or view.get("localRef")
    expect(ref, "%d without a caseId or localRef: %r" % (response.status_code, view))
    expect(response.headers.get("Location") == "/v1/cases/" + ref,
           "Location %r for %s" % (response.headers.get("Location"), ref))
    deadline = time.time() + 30
    while not view.get("caseId"):
        expect(time.time() < deadline, "held submission %s never got a case id" % ref)
        time.sleep(0.2)
        view = agent.call("getCase", "GET", "/v1/cases/" + ref, 200).json()
    return view


def phase_round_trip(args, agent, partner, receiver, state):
    key = "round-trip-" + uuid.uuid4().hex
    view = submit(agent, "Dossier bloqué", key)
    case_id = view["caseId"]
    log("submitted %s (%s)" % (case_id, view["state"]))
    again = submit(agent, "Dossier bloqué", key)
    expect(again["caseId"] == case_id, "same Idempotency-Key, new case %s" % again["caseId"])
    listed = agent.call("listCases", "GET", "/v1/cases", 200, params={"limit": 100}).json()
    expect(sum(1 for c in listed["items"] if c.get("caseId") == case_id) == 1,
           "the resubmission made a second case: %r" % listed["items"])

    seen = receiver.wait_for(lambda rs: any(for_case(case_id, "case.delivered")(r) for r in rs),
                             30, "the case.delivered webhook of " + case_id)
    delivered = next(r for r in seen if for_case(case_id, "case.delivered")(r))
    expect(delivered["event"].get("case", {}).get("caseId") == case_id,
           "case.delivered webhook without the case view")
    log("webhook %s received and verified" % delivered["id"])

    inbox = partner.call("listInbox", "GET", "/v1/inbox", 200, params={"limit": 1000}).json()
    expect(any(c.get("caseId") == case_id for c in inbox["items"]), "case not in the inbox")
    feed = partner.call("readEvents", "GET", "/v1/events", 200, params={"limit": 1000}).json()
    expect(any(e.get("caseId") == case_id and e["type"] == "case.delivered"
               for e in feed["events"]), "case.delivered not in the partner's feed")
    partner.call("getCase", "GET", "/v1/cases/" + case_id, 200)

    # The agent's cursor before the answer: the long poll must bring the reply.
    events = agent.call("readEvents", "GET", "/v1/events", 200, params={"limit": 1000}).json()
    cursor = events.get("nextCursor")  # None: nothing yet, read from the start
    # 200 once the broker recorded it; 202 when the gateway holds it (a slow broker).
    ack = partner.call("acknowledgeCase", "POST", "/v1/cases/%s/ack" % case_id, (200, 202),
                       json={"note": "pris en charge"}, headers={"Idempotency-Key": "ack-" + key})
    expect(ack.status_code == 202 or ack.json()["state"] == "ACKNOWLEDGED",
           "ack answered %r" % ack.json())
    reply_text = "Le versement reprend le 5 décembre."

    def long_poll():
        started = time.time()
        after = cursor
        while time.time() - started < 40:
            page = agent.call("readEvents", "GET", "/v1/events", 200,
                              params={"after": after, "wait": 20, "limit": 1000},
                              timeout=35).json()
            for event in page["events"]:
                if event.get("caseId") == case_id and event["type"] == "case.answered":
                    return event, time.time() - started
            after = page.get("nextCursor") or after
        raise CheckFailed("the agent's long poll never brought the reply of " + case_id)

    result = {}
    poller = threading.Thread(target=lambda: result.update(r=_catch(long_poll)))
    poller.start()
    time.sleep(0.5)  # the poll is waiting at the gateway when the reply arrives
    reply = partner.call("replyCase", "POST", "/v1/cases/%s/reply" % case_id, (200, 202),
                         json={"text": reply_text}, headers={"Idempotency-Key": "reply-" + key})
    expect(reply.status_code == 202 or reply.json()["state"] == "ANSWERED",
           "reply answered %r" % reply.json())
    poller.join(45)
    expect("r" in result, "the long poll did not return")
    outcome = result["r"]
    if isinstance(outcome, Exception):
        raise outcome
    event, waited = outcome
    expect(event.get("text") == reply_text, "the reply's text in the feed: %r" % event)
    log("long poll returned the reply after %.1f s" % waited)
    deadline = time.time() + 15
    while agent.call("getCase", "GET", "/v1/cases/" + case_id, 200).json()["state"] != "ANSWERED":
        expect(time.time() < deadline, "the case is not ANSWERED at the agent gateway")
        time.sleep(0.2)
    agent.call("getCase", "GET", "/v1/cases/" + case_id.lower().replace("-", ""), 200)

    # Webhooks that fail: 500 twice, then a request held past the sender's timeout.
    receiver.set_mode("fail")
    second = submit(agent, "Radiation contestée", "failing-" + key)["caseId"]
    seen = receiver.wait_for(lambda rs: sum(for_case(second, "case.delivered")(r)
                                            for r in rs) >= 2, 30, "two failed attempts")
    ids = {r["id"] for r in seen if for_case(second, "case.delivered")(r)}
    expect(len(ids) == 1, "retries of one webhook with different webhook-ids: %s" % ids)
    receiver.set_mode("hang")
    count = len(seen)
    receiver.wait_for(lambda rs: len(rs) > count + 1, 60, "a retry after a timed-out attempt")
    state.update(first=case_id, second=second, second_webhook_id=ids.pop(),
                 first_webhook_id=delivered["id"])
    log("second case %s: webhook %s failed (500, 500, timeout)" % (second,
                                                                  state["second_webhook_id"]))


def _catch(function):
    try:
        return function()
    except Exception as error:  # pylint: disable=broad-except
        return error


def phase_recover(args, agent, partner, receiver, state):
    second, webhook_id = state["second"], state["second_webhook_id"]
    seen = receiver.wait_for(lambda rs: any(for_case(second, "case.delivered")(r) for r in rs),
                             60, "the redelivery of " + webhook_id)
    delivery = next(r for r in seen if for_case(second, "case.delivered")(r))
    expect(delivery["id"] == webhook_id, "redelivered under a new webhook-id %s (was %s)" %
           (delivery["id"], webhook_id))
    # Feed order: nothing of the first case comes after the second case's delivery.
    after = seen[seen.index(delivery) + 1:]
    expect(not any(r.get("event", {}).get("caseId") == state["first"] and
                   r["id"] != state["first_webhook_id"] for r in after),
           "a webhook of the first case after the second's delivery (feed order)")
    partner.call("getCase", "GET", "/v1/cases/" + second, 200)
    log("webhook %s delivered after the restart" % webhook_id)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("phase", choices=["round-trip", "recover"])
    parser.add_argument("--agent-url", required=True)
    parser.add_argument("--partner-url", required=True)
    parser.add_argument("--agent-token", required=True)
    parser.add_argument("--partner-token", required=True)
    parser.add_argument("--secret-file", required=True)
    parser.add_argument("--receiver-port", type=int, required=True)
    parser.add_argument("--state", required=True)
    args = parser.parse_args()
    with open(args.secret_file, encoding="ascii") as stream:
        secrets = [line.strip() for line in stream
                   if line.strip() and not line.startswith("#")]
    state = {}
    if os.path.exists(args.state):
        with open(args.state, encoding="utf-8") as stream:
            state = json.load(stream)
    agent = Api(args.agent_url, args.agent_token)
    partner = Api(args.partner_url, args.partner_token)
    receiver = Receiver(args.receiver_port, secrets)
    try:
        {"round-trip": phase_round_trip, "recover": phase_recover}[args.phase](
            args, agent, partner, receiver, state)
    except (CheckFailed, requests.RequestException) as error:
        print("round_trip: FAILED: %s" % error, file=sys.stderr, flush=True)
        return 1
    finally:
        receiver.close()
        with open(args.state, "w", encoding="utf-8") as stream:
            json.dump(state, stream)
    log("%s: OK (%d answers checked against openapi.yaml, %d webhooks received)" %
        (args.phase, agent.checked + partner.checked, len(receiver.requests)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
