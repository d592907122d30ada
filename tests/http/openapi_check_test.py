#!/usr/bin/env python3
"""Unit tests of openapi_check.py on sample documents: for each kind of response schema one
valid answer and one that breaks it, so that the system tests' validation can fail."""

import json
import os
import subprocess
import sys
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import openapi_check  # noqa: E402  pylint: disable=wrong-import-position

CONTRACT = openapi_check.OpenApiContract.load()

CASE_VIEW = {
    "caseId": "PER-7K3M-Q9XD", "state": "SUBMITTED", "contactPoint": "mairie-perche-en-noce",
    "agent": "agent-noce-1", "partner": "france-travail", "category": "unemployment-benefits",
    "subject": "Allocation suspendue", "submittedAt": "2026-11-30T09:15:00.000Z",
    "deadline": "2026-12-04T09:15:00.000Z", "warningAt": None, "replyPolicy": "4 jours-ouvres",
    "consent": True, "body": "texte", "citizen": "Jeanne Martin",
    "timeline": [{"sequence": 1, "at": "2026-11-30T09:15:00.000Z", "kind": "SUBMITTED",
                  "actor": "cp/mairie-perche-en-noce", "stateAfter": "SUBMITTED"}],
    "deadlineExplanation": ["4 jours ouvrés"],
}
PROBLEM = {"type": "https://aplus.example/problems/unknown_case", "title": "Unknown case",
           "status": 404, "detail": "no case PER-0000-0000", "code": "UNKNOWN_CASE"}
JSON = "application/json"
PROBLEM_JSON = "application/problem+json"


def body(value):
    return json.dumps(value).encode("utf-8")


class ResponseTest(unittest.TestCase):
    def valid(self, operation, status, content_type, value, headers=None):
        errors = CONTRACT.check_response(operation, status, content_type, body(value), headers)
        self.assertEqual(errors, [])

    def invalid(self, operation, status, content_type, value, expected, headers=None):
        raw = value if isinstance(value, bytes) else body(value)
        errors = CONTRACT.check_response(operation, status, content_type, raw, headers)
        self.assertTrue(errors, "accepted: %r" % (value,))
        self.assertIn(expected, "\n".join(errors))

    def test_case_view(self):
        self.valid("submitCase", 201, JSON, CASE_VIEW, {"Location": "/v1/cases/PER-7K3M-Q9XD"})
        self.valid("getCase", 200, "application/json; charset=utf-8", CASE_VIEW)
        self.invalid("getCase", 200, JSON, dict(CASE_VIEW, state="LOST"), "state")
        self.invalid("getCase", 200, JSON, dict(CASE_VIEW, deadline="tomorrow"), "deadline")
        broken = dict(CASE_VIEW, timeline=[{"sequence": 1, "kind": "SUBMITTED"}])
        self.invalid("getCase", 200, JSON, broken, "timeline/0")
        without_state = {k: v for k, v in CASE_VIEW.items() if k != "state"}
        self.invalid("getCase", 200, JSON, without_state, "'state' is a required property")

    def test_queued_locally(self):
        self.valid("submitCase", 202, JSON, {"localRef": "LOC-1", "state": "QUEUED_LOCALLY"})
        self.invalid("submitCase", 202, JSON, {"localRef": 7, "state": "QUEUED_LOCALLY"},
                     "localRef")

    def test_case_list(self):
        page = {"items": [{"caseId": "PER-7K3M-Q9XD", "state": "DELIVERED"},
                          {"caseId": "", "localRef": "LOC-2", "state": "QUEUED_LOCALLY"}],
                "nextCursor": "abc", "localView": False}
        self.valid("listCases", 200, JSON, page)
        self.valid("listInbox", 200, JSON, dict(page, nextCursor=None))
        self.invalid("listCases", 200, JSON, {"items": []}, "localView")
        self.invalid("listInbox", 200, JSON, dict(page, items=[{"caseId": "X"}]), "items/0")

    def test_case_update(self):
        update = {"caseId": "PER-7K3M-Q9XD", "state": "ACKNOWLEDGED", "queuedLocally": False}
        self.valid("acknowledgeCase", 200, JSON, update)
        self.valid("replyCase", 202, JSON, dict(update, queuedLocally=True, localRef="LOC-3"))
        self.invalid("closeCase", 200, JSON, dict(update, queuedLocally="no"), "queuedLocally")

    def test_event_page(self):
        page = {"events": [{"cursor": "7", "type": "case.answered", "at": "2026-11-30T10:00:00Z",
                            "caseId": "PER-7K3M-Q9XD", "text": "C'est réglé."}],
                "nextCursor": "7"}
        self.valid("readEvents", 200, JSON, page)
        self.valid("readEvents", 200, JSON, {"events": [], "nextCursor": None})
        wrong = {"events": [dict(page["events"][0], type="case.exploded")]}
        self.invalid("readEvents", 200, JSON, wrong, "events/0/type")
        nested = {"events": [{"cursor": "8", "type": "case.delivered",
                              "at": "2026-11-30T10:00:00Z", "case": {"caseId": "X"}}]}
        self.invalid("readEvents", 200, JSON, nested, "events/0/case")

    def test_deadline_and_audit(self):
        self.valid("explainDeadline", 200, JSON,
                   {"deadline": "2026-12-04T17:00:00.000Z", "replyPolicy": "4 jours-ouvres",
                    "explanation": ["a", "b"]})
        self.invalid("explainDeadline", 200, JSON, {"deadline": "2026-12-04T17:00:00.000Z"},
                     "replyPolicy")
        audit = {"caseId": "PER-7K3M-Q9XD",
                 "entries": [{"sequence": 1, "at": "2026-11-30T09:15:00Z",
                              "principal": "cp/mairie", "action": "SUBMIT"}]}
        self.valid("getAudit", 200, JSON, audit)
        self.invalid("getAudit", 200, JSON, dict(audit, entries=[{"sequence": "one"}]),
                     "entries/0")

    def test_problem(self):
        self.valid("getCase", 404, PROBLEM_JSON, PROBLEM)
        self.valid("submitCase", 429, PROBLEM_JSON,
                   dict(PROBLEM, status=429, code="RATE_LIMITED", retryAfterSeconds=2),
                   {"Retry-After": "2"})
        self.invalid("submitCase", 429, PROBLEM_JSON,
                     dict(PROBLEM, status=429, code="RATE_LIMITED"), "Retry-After")
        self.invalid("getCase", 404, PROBLEM_JSON, dict(PROBLEM, status=400),
                     "not the HTTP status")
        self.invalid("getCase", 404, PROBLEM_JSON, dict(PROBLEM, code="OOPS"), "code")
        self.invalid("getCase", 404, JSON, PROBLEM, "Content-Type")
        self.invalid("getCase", 200, JSON, b"{not json", "not JSON")
        self.invalid("getCase", 200, JSON, b"\xff\xfe", "not UTF-8")

    def test_undeclared_status_and_operation(self):
        # getOpenApi declares only 200: any other status breaks the contract.
        self.assertTrue(CONTRACT.check_response("getOpenApi", 500, PROBLEM_JSON, body(PROBLEM)))
        self.assertEqual(CONTRACT.check_response("getOpenApi", 200, "application/yaml",
                                                 b"openapi: 3.1.0\n"), [])
        with self.assertRaises(KeyError):
            CONTRACT.check_response("noSuchOperation", 200, JSON, b"{}")


class WebhookTest(unittest.TestCase):
    HEADERS = {"webhook-id": "msg_1", "webhook-timestamp": "1764494100",
               "webhook-signature": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
               "content-type": "application/json"}
    EVENT = {"cursor": "1", "type": "case.delivered", "at": "2026-11-30T09:15:00.000Z",
             "caseId": "PER-7K3M-Q9XD", "case": CASE_VIEW}

    def test_valid(self):
        self.assertEqual(CONTRACT.check_webhook(self.HEADERS, body(self.EVENT)), [])
        rotated = dict(self.HEADERS, **{"webhook-signature": "v1,YQ== v1,Yg=="})
        self.assertEqual(CONTRACT.check_webhook(rotated, body(self.EVENT)), [])

    def test_invalid(self):
        headers = {k: v for k, v in self.HEADERS.items() if k != "webhook-id"}
        self.assertIn("webhook-id", "\n".join(CONTRACT.check_webhook(headers, body(self.EVENT))))
        headers = dict(self.HEADERS, **{"webhook-signature": "sha256=abc"})
        self.assertTrue(CONTRACT.check_webhook(headers, body(self.EVENT)))
        self.assertTrue(CONTRACT.check_webhook(self.HEADERS, body({"type": "case.delivered"})))


class CommandLineTest(unittest.TestCase):
    def run_check(self, *args, stdin):
        return subprocess.run([sys.executable, openapi_check.__file__, *args], input=stdin,
                              capture_output=True, check=False)

    def test_exit_codes(self):
        ok = self.run_check("getCase", "404", PROBLEM_JSON, stdin=body(PROBLEM))
        self.assertEqual(ok.returncode, 0, ok.stderr)
        bad = self.run_check("getCase", "404", PROBLEM_JSON, stdin=body({"status": 404}))
        self.assertEqual(bad.returncode, 1)
        self.assertIn(b"required", bad.stderr)
        retry = self.run_check("submitCase", "503", PROBLEM_JSON, "--header", "Retry-After: 1",
                               stdin=body(dict(PROBLEM, status=503, code="UNAVAILABLE")))
        self.assertEqual(retry.returncode, 0, retry.stderr)


if __name__ == "__main__":
    unittest.main()
