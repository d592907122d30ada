#!/usr/bin/env python3
"""Fuzzes both gateways' HTTP listeners for a bounded time (run by
tests/system/http_fuzz_system_test.cc against the real programs), seeded so a failure can be
replayed (--seed).

Before: stores a few cases over the API and keeps their GET /v1/cases/{id} bodies.
During (--seconds): random and mutated requests over raw sockets, built from valid ones (bit
flips, truncation, duplicated or dropped headers, lying Content-Length, wrong types, unknown
fields, huge strings, bad percent-escapes, odd methods and paths), with a valid, a wrong or no
token; oversize headers (over 16 KiB), header floods, oversize bodies (over 1 MiB);
slowloris clients dribbling a header byte by byte; half-open clients that connect and send
part of a request, or nothing. Meanwhile a normal client submits and reads cases over
keep-alive and every one of its answers must be right (checked against docs/openapi.yaml).
After: a normal round of requests works; the stored cases' bodies are unchanged (the fuzz
never learns their ids); the cases listed are exactly the stored ones plus those whose
submission was answered 201/202, and every such submission was well formed (valid token,
complete request, a body valid against SubmitRequest).

Rules on every answer to a fuzzed request: a complete HTTP/1.1 response, never 5xx (503 with
Retry-After excepted), every 4xx a problem document valid against the contract. A connection
may be closed without an answer only when the request was incomplete or not HTTP.
Exit 0 when every check held, 1 otherwise (the failures on stderr, with the seed).
"""

import argparse
import json
import os
import random
import socket
import sys
import threading
import time
import uuid

import requests

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import openapi_check  # noqa: E402  pylint: disable=wrong-import-position

CONTRACT = openapi_check.OpenApiContract.load()
SUBMIT_SCHEMA = CONTRACT.document["components"]["schemas"]["SubmitRequest"]


def valid_submission(rng):
    return {"agent": "agent-noce-1", "partner": "france-travail",
            "category": "unemployment-benefits", "subject": "Fuzz %d" % rng.randrange(10**6),
            "body": "Corps.", "citizen": "Jeanne Martin", "consent": True}


class Failures:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []

    def add(self, text):
        with self.lock:
            if len(self.items) < 50:
                self.items.append(text)


def read_response(sock, deadline):
    """(status, headers, body) of one response, or None when the connection closed (or the
    deadline passed: then "stalled") before a complete one."""
    data = b""
    while b"\r\n\r\n" not in data:
        sock.settimeout(max(0.05, deadline - time.time()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return "stalled"
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        return ("garbage", lines[0])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    while len(body) < length:
        sock.settimeout(max(0.05, deadline - time.time()))
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, OSError):
            return "stalled"
        if not chunk:
            break
        body += chunk
    return int(parts[1]), headers, body[:length]


class Target:
    def __init__(self, name, url, token):
        self.name = name
        host_port = url.split("//", 1)[1].rstrip("/")
        host, port = host_port.rsplit(":", 1)
        self.address = (host, int(port))
        self.token = token


class Fuzzer:
    PATHS = ["/v1/cases", "/v1/cases/PER-0000-0000", "/v1/cases/LOC-999999/close",
             "/v1/cases/PER-ZZZZ-ZZZZ/cancel", "/v1/cases/x/answers", "/v1/inbox",
             "/v1/cases/PER-0000-0001/ack", "/v1/cases/PER-0000-0002/reply",
             "/v1/cases/PER-0000-0003/questions", "/v1/cases/PER-0000-0004/transfer",
             "/v1/events", "/v1/deadline", "/v1/openapi.yaml", "/metrics", "/", "/v1/%zz",
             "/v1/cases?limit=0", "/v1/cases?limit=abc&limit=2", "/v1/events?wait=999",
             "/v1/cases?cursor=%ff%fe", "/v1/inbox?state=NOPE", "/v1/cases/" + "A" * 300,
             "/v1/deadline?partner=france-travail&at=yesterday", "/../../etc/passwd"]
    METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "BREW", "G\x00T"]

    def __init__(self, rng, targets, failures, counters):
        self.rng = rng
        self.targets = targets
        self.failures = failures
        self.counters = counters
        self.accepted = []  # (target name, case id or local ref)

    # --- building requests -----------------------------------------------------------------

    def token_header(self, target):
        choice = self.rng.random()
        if choice < 0.5:
            return "Authorization: Bearer %s\r\n" % target.token, True
        if choice < 0.7:
            return "Authorization: Bearer aplus_%064x\r\n" % self.rng.getrandbits(256), False
        if choice < 0.8:
            return "Authorization: Basic Zm9vOmJhcg==\r\n", False
        return "", False

    def json_body(self):
        body = valid_submission(self.rng)
        mutation = self.rng.randrange(9)
        if mutation == 0:
            body.pop(self.rng.choice(list(body)))
        elif mutation == 1:
            body[self.rng.choice(list(body))] = self.rng.choice([1, None, [], {}, True, "x"])
        elif mutation == 2:
            body["unknown%d" % self.rng.randrange(9)] = "surprise"
        elif mutation == 3:
            body["subject"] = "é" * self.rng.choice([10, 600, 5000])
        elif mutation == 4:
            return self.rng.choice([b"[]", b"null", b"{", b"{\"agent\":", b"\xff\xfe{}",
                                    b"{\"a\":1,\"a\":2}", b"1e999999", b"\"" + b"\\" * 99])
        elif mutation == 5:
            return json.dumps([body] * 3).encode()
        elif mutation == 6:
            body = {"text": "x" * self.rng.randrange(1, 100), "question": "q", "to": "msa",
                    "reason": "r", "note": "n"}
        return json.dumps(body, ensure_ascii=self.rng.random() < 0.5).encode()

    def valid_request(self, target):
        """A request as a client would write it; (bytes, uses a valid token, is a submit)."""
        token, valid_token = self.token_header(target)
        method = self.rng.choice(["GET", "POST", "POST", "POST"])
        path = self.rng.choice(self.PATHS)
        body = self.json_body() if method == "POST" else b""
        content_type = self.rng.choice(["application/json", "application/json",
                                        "text/plain", "application/x-www-form-urlencoded"])
        head = "%s %s HTTP/1.1\r\nHost: fuzz\r\n%sConnection: close\r\n" % (method, path, token)
        if body:
            head += "Content-Type: %s\r\nContent-Length: %d\r\n" % (content_type, len(body))
        if self.rng.random() < 0.3:
            head += "Idempotency-Key: fuzz-%d\r\n" % self.rng.randrange(50)
        return (head + "\r\n").encode("latin-1") + body, valid_token

    def mutate(self, data):
        data = bytearray(data)
        for _ in range(self.rng.randrange(1, 6)):
            kind = self.rng.randrange(7)
            if not data:
                break
            at = self.rng.randrange(len(data))
            if kind == 0:
                data[at] ^= 1 << self.rng.randrange(8)
            elif kind == 1:
                del data[at:at + self.rng.randrange(1, 20)]
            elif kind == 2:
                data[at:at] = bytes(self.rng.getrandbits(8) for _ in range(self.rng.randrange(1, 20)))
            elif kind == 3:
                data = data[:at]
            elif kind == 4:
                data[at:at] = self.rng.choice([b"\r\n", b"\n", b"\x00", b"%", b":", b" ",
                                               b"Content-Length: 99999999\r\n",
                                               b"Transfer-Encoding: chunked\r\n",
                                               b"Content-Length: -1\r\n"])
            elif kind == 5:
                data = data.replace(b"HTTP/1.1", self.rng.choice([b"HTTP/0.9", b"HTTP/2.0",
                                                                 b"HTTP/1.1 x", b""]), 1)
            else:
                data = data.replace(b"\r\n", b"\r\n" + data[:self.rng.randrange(40)], 1)
        return bytes(data)

    def special_request(self, target):
        token = "Authorization: Bearer %s\r\n" % target.token
        kind = self.rng.randrange(5)
        if kind == 0:  # oversize header
            return ("GET /v1/events HTTP/1.1\r\nHost: f\r\n%sX-Big: %s\r\n\r\n" %
                    (token, "a" * self.rng.choice([17000, 70000]))).encode()
        if kind == 1:  # header flood
            flood = "".join("X-H%d: v\r\n" % i for i in range(self.rng.choice([500, 3000])))
            return ("GET /v1/cases HTTP/1.1\r\nHost: f\r\n%s%s\r\n" % (token, flood)).encode()
        if kind == 2:  # oversize body, announced
            body = b"{\"subject\":\"" + b"x" * (1024 * 1024 + 10) + b"\"}"
            return ("POST /v1/cases HTTP/1.1\r\nHost: f\r\n%sContent-Type: application/json\r\n"
                    "Content-Length: %d\r\n\r\n" % (token, len(body))).encode() + body
        if kind == 3:  # oversize body, chunked
            chunk = b"x" * 300000
            body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(4)) + b"0\r\n\r\n"
            return ("POST /v1/cases HTTP/1.1\r\nHost: f\r\n%sContent-Type: application/json\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n" % token).encode() + body
        return bytes(self.rng.getrandbits(8) for _ in range(self.rng.randrange(1, 4000)))

    # --- sending ---------------------------------------------------------------------------

    def send(self, target, data):
        self.counters["requests"] += 1
        try:
            sock = socket.create_connection(target.address, timeout=5)
        except OSError as error:
            self.failures.add("%s: cannot connect: %s" % (target.name, error))
            return
        with sock:
            try:
                sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the server may close early (431, 413): its answer is still read
            answer = read_response(sock, time.time() + 15)
        if answer is None or answer == "stalled":
            self.counters["closed without answer" if answer is None else "stalled"] += 1
            return
        if answer[0] == "garbage":
            self.failures.add("%s: not an HTTP response: %r" % (target.name, answer[1]))
            return
        status, headers, body = answer
        self.counters["status %d" % status] += 1
        if status >= 500 and not (status == 503 and "retry-after" in headers):
            self.failures.add("%s: %d for %r...: %r" % (target.name, status, data[:120], body[:300]))
        if 400 <= status < 500:
            media = headers.get("content-type", "").split(";")[0]
            if media != "application/problem+json":
                self.failures.add("%s: %d without a problem document" % (target.name, status))
            else:
                try:
                    problem = json.loads(body)
                    errors = CONTRACT.schema_errors(
                        {"$ref": "#/components/schemas/Problem"}, problem)
                    if problem.get("status") != status:
                        errors.append("status %r" % problem.get("status"))
                except ValueError:
                    errors = ["not JSON"]
                if errors:
                    self.failures.add("%s: bad problem for %d: %s" % (target.name, status, errors))
        if status in (201, 202) and target.name == "agent":
            # Only a submission makes a case (201, or 202 held locally); updates answer 200 and
            # the fuzz's updates name unknown cases. Either way it must have been well formed.
            if not well_formed(data, target.token):
                self.failures.add("agent: %d (a case?) from an ill-formed request: %r" %
                                  (status, data[:400]))
            try:
                view = json.loads(body)
                self.accepted.append(view.get("caseId") or view.get("localRef"))
            except ValueError:
                self.failures.add("agent: %d with a body that is not JSON" % status)

    def run(self, until):
        while time.time() < until:
            target = self.rng.choice(self.targets)
            pick = self.rng.random()
            if pick < 0.35:
                data, _ = self.valid_request(target)
            elif pick < 0.85:
                data = self.mutate(self.valid_request(target)[0])
            else:
                data = self.special_request(target)
            self.send(target, data)


def well_formed(raw, token):
    """Whether `raw` is a complete, valid submission with the valid token."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return False
    lines = head.split(b"\r\n")
    # Query parameters are not part of submitCase: a gateway may ignore them.
    request_line = lines[0].split(b" ")
    if len(request_line) != 3 or request_line[0] != b"POST" or \
            request_line[1].split(b"?")[0] != b"/v1/cases" or request_line[2] != b"HTTP/1.1":
        return False
    # RFC 9112, 5.2: a server may replace an obs-fold (a line starting with a space or a tab)
    # by a space, as Beast does: the folded value belongs to the header before it.
    unfolded = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t") and unfolded:
            unfolded[-1] += b" " + line.strip()
        else:
            unfolded.append(line)
    headers = {}
    for line in unfolded:
        name, colon, value = line.partition(b":")
        if not colon:
            return False
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    if headers.get(b"authorization") != [b"Bearer " + token.encode()]:
        return False
    if headers.get(b"content-length") != [str(len(body)).encode()]:
        return False
    if headers.get(b"content-type") != [b"application/json"]:
        return False
    try:
        instance = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    return not CONTRACT.schema_errors(SUBMIT_SCHEMA, instance)


def slowloris(target, until, failures, counters):
    """Connections that dribble a header one byte at a time; they must not starve others."""
    request = ("GET /v1/events HTTP/1.1\r\nHost: slow\r\nAuthorization: Bearer %s\r\n"
               "X-Slow: %s\r\n\r\n" % (target.token, "z" * 2000)).encode()
    socks = []
    try:
        for _ in range(40):
            sock = socket.create_connection(target.address, timeout=5)
            sock.setblocking(False)
            socks.append([sock, 0])
        while time.time() < until and socks:
            for entry in list(socks):
                try:
                    entry[0].send(request[entry[1]:entry[1] + 1])
                    entry[1] += 1
                except OSError:
                    counters["slowloris closed by server"] += 1
                    entry[0].close()
                    socks.remove(entry)
            time.sleep(0.25)
    except OSError as error:
        failures.add("%s: slowloris could not connect: %s" % (target.name, error))
    finally:
        for sock, _ in socks:
            sock.close()


def half_open(target, until, counters):
    """Clients that connect and send half a request, or nothing, then go silent."""
    held = []
    while time.time() < until:
        try:
            sock = socket.create_connection(target.address, timeout=5)
            sock.sendall(b"POST /v1/cases HTTP/1.1\r\nContent-Length: 500\r\n\r\n{\"agen"[
                :random.randrange(0, 60)])
            held.append(sock)
            counters["half-open"] += 1
        except OSError:
            pass
        if len(held) > 30:
            held.pop(0).close()
        time.sleep(0.2)
    for sock in held:
        sock.close()


class Normal:
    """A well-behaved client of both gateways; every answer checked against the contract."""

    def __init__(self, agent_url, partner_url, agent_token, partner_token, failures):
        self.agent_url, self.partner_url = agent_url.rstrip("/"), partner_url.rstrip("/")
        self.agent = requests.Session()
        self.agent.headers["Authorization"] = "Bearer " + agent_token
        self.partner = requests.Session()
        self.partner.headers["Authorization"] = "Bearer " + partner_token
        self.failures = failures
        self.submitted = []
        self.calls = 0

    def call(self, session, base, operation, method, path, expect, **kwargs):
        kwargs.setdefault("timeout", 20)
        try:
            response = session.request(method, base + path, **kwargs)
        except requests.RequestException as error:
            self.failures.add("normal client: %s %s: %s" % (method, path, error))
            return None
        self.calls += 1
        errors = CONTRACT.check_response(operation, response.status_code,
                                         response.headers.get("Content-Type", ""),
                                         response.content, dict(response.headers))
        expected = expect if isinstance(expect, tuple) else (expect,)
        if errors or response.status_code not in expected:
            self.failures.add("normal client: %s %s -> %d %s %r" % (
                method, path, response.status_code, errors, response.content[:300]))
            return None
        return response

    def submit(self, subject):
        """The case id (or, when the gateway held it, the local ref) of a new submission."""
        response = self.call(self.agent, self.agent_url, "submitCase", "POST", "/v1/cases",
                             (201, 202),
                             json=dict(valid_submission(random.Random()), subject=subject),
                             headers={"Idempotency-Key": "normal-" + uuid.uuid4().hex})
        if response is None:
            return None
        view = response.json()
        ref = view.get("caseId") or view.get("localRef")
        self.submitted.append(ref)
        return ref

    def resolve(self, ref):
        """A local ref's case id once the broker has it (the ref itself until then)."""
        if not ref or not ref.startswith("LOC-"):
            return ref
        deadline = time.time() + 30
        while time.time() < deadline:
            view = self.get_case(ref)
            if view and view.get("caseId"):
                return view["caseId"]
            time.sleep(0.2)
        self.failures.add("held submission %s never got a case id" % ref)
        return ref

    def get_case(self, case_id):
        response = self.call(self.agent, self.agent_url, "getCase", "GET", "/v1/cases/" + case_id,
                             200)
        return None if response is None else response.json()

    def round(self, index):
        case_id = self.submit("Normal %d" % index)
        if case_id:
            self.get_case(case_id)
        self.call(self.agent, self.agent_url, "listCases", "GET", "/v1/cases", 200,
                  params={"limit": 5})
        self.call(self.partner, self.partner_url, "listInbox", "GET", "/v1/inbox", 200,
                  params={"limit": 5})
        self.call(self.agent, self.agent_url, "readEvents", "GET", "/v1/events", 200,
                  params={"limit": 10})

    def round_trip(self):
        """A whole round trip after the fuzz: submit, the partner finds the case in its inbox,
        acknowledges and replies, the contact point's feed brings the reply."""
        case_id = self.resolve(self.submit("After the fuzz"))
        if case_id is None:
            return
        deadline = time.time() + 30
        found = False
        while time.time() < deadline and not found:
            inbox = self.call(self.partner, self.partner_url, "listInbox", "GET", "/v1/inbox",
                              200, params={"limit": 1000})
            found = inbox is not None and any(c.get("caseId") == case_id
                                              for c in inbox.json()["items"])
            if not found:
                time.sleep(0.2)
        if not found:
            self.failures.add("round trip after the fuzz: %s never reached the inbox" % case_id)
            return
        self.call(self.partner, self.partner_url, "acknowledgeCase", "POST",
                  "/v1/cases/%s/ack" % case_id, (200, 202), json={})
        self.call(self.partner, self.partner_url, "replyCase", "POST",
                  "/v1/cases/%s/reply" % case_id, (200, 202), json={"text": "Réglé après le fuzz."})
        after, deadline = "", time.time() + 30
        while time.time() < deadline:
            page = self.call(self.agent, self.agent_url, "readEvents", "GET", "/v1/events", 200,
                             params={"after": after or None, "wait": 5, "limit": 1000},
                             timeout=15)
            if page is None:
                return
            if any(e.get("caseId") == case_id and e["type"] == "case.answered"
                   for e in page.json()["events"]):
                return
            after = page.json().get("nextCursor") or after
        self.failures.add("round trip after the fuzz: the reply of %s never reached the "
                          "contact point's feed" % case_id)

    def all_cases(self):
        """Every case id the agent gateway lists (following cursors)."""
        ids, cursor = [], None
        for _ in range(1000):
            params = {"limit": 100}
            if cursor:
                params["cursor"] = cursor
            response = self.call(self.agent, self.agent_url, "listCases", "GET", "/v1/cases", 200,
                                 params=params)
            if response is None:
                return None
            page = response.json()
            ids += [c.get("caseId") or c.get("localRef") for c in page["items"]]
            cursor = page.get("nextCursor")
            if not cursor:
                return ids
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agent-url", required=True)
    parser.add_argument("--partner-url", required=True)
    parser.add_argument("--agent-token", required=True)
    parser.add_argument("--partner-token", required=True)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    print("fuzz: seed %d, %.0f s" % (args.seed, args.seconds), flush=True)
    failures = Failures()
    normal = Normal(args.agent_url, args.partner_url, args.agent_token, args.partner_token,
                    failures)
    stored = [normal.submit("Stored before the fuzz %d" % i) for i in range(3)]
    if None in stored:
        print("fuzz: FAILED before the fuzz: %s" % failures.items, file=sys.stderr)
        return 1
    # Deliveries settle first: the views kept must not change by themselves.
    stored = [normal.resolve(ref) for ref in stored]
    before = {}
    for case_id in stored:
        deadline = time.time() + 30
        view = normal.get_case(case_id)
        while view is not None and view.get("state") != "DELIVERED" and time.time() < deadline:
            time.sleep(0.2)
            view = normal.get_case(case_id)
        before[case_id] = view

    targets = [Target("agent", args.agent_url, args.agent_token),
               Target("partner", args.partner_url, args.partner_token)]
    until = time.time() + args.seconds
    from collections import Counter  # pylint: disable=import-outside-toplevel
    counters = Counter()
    fuzzers = [Fuzzer(random.Random(args.seed * 100 + i), targets, failures, counters)
               for i in range(args.workers)]
    threads = [threading.Thread(target=f.run, args=(until,)) for f in fuzzers]
    threads += [threading.Thread(target=slowloris, args=(t, until, failures, counters))
                for t in targets]
    threads += [threading.Thread(target=half_open, args=(t, until, counters)) for t in targets]
    for thread in threads:
        thread.start()
    rounds = 0
    while time.time() < until:
        normal.round(rounds)
        rounds += 1
        time.sleep(0.2)
    for thread in threads:
        thread.join(60)
        if thread.is_alive():
            failures.add("a fuzz thread did not finish")

    # After: a normal round, the stored cases unchanged, and no case from an ill-formed request.
    normal.round(rounds)
    normal.round_trip()
    for case_id, view in before.items():
        after = normal.get_case(case_id)
        if after != view:
            failures.add("case %s changed during the fuzz:\n before %s\n after  %s" %
                         (case_id, json.dumps(view), json.dumps(after)))
    accepted = [normal.resolve(a) for f in fuzzers for a in f.accepted]
    listed = normal.all_cases()
    expected = {normal.resolve(ref) for ref in normal.submitted} | set(accepted)
    if listed is None:
        failures.add("the cases could not be listed after the fuzz")
    elif set(listed) != expected or len(listed) != len(set(listed)):
        failures.add("cases listed %d (%d distinct) != stored %d + fuzz-accepted %d; extra %s, "
                     "missing %s" % (len(listed), len(set(listed)), len(normal.submitted),
                                     len(accepted), sorted(set(listed) - expected)[:10],
                                     sorted(expected - set(listed))[:10]))
    print("fuzz: %d fuzzed requests, %d normal calls in %d rounds, %d cases (%d from fuzzed "
          "well-formed submissions); %s" % (counters["requests"], normal.calls, rounds,
                                            len(listed or []), len(accepted),
                                            dict(sorted(counters.items()))), flush=True)
    if failures.items:
        print("fuzz: FAILED (seed %d):\n  %s" % (args.seed, "\n  ".join(failures.items)),
              file=sys.stderr, flush=True)
        return 1
    print("fuzz: OK", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
