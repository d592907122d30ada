#!/usr/bin/env python3
"""Checks HTTP answers (and webhook requests) against docs/openapi.yaml.

The system tests validate every response they receive with this module: the status must be one
the operation declares (exactly, as "2XX", or through "default"), the Content-Type one of that
response's media types, the body valid against the media type's schema (JSON Schema Draft
2020-12, as OpenAPI 3.1 uses; "$ref"s into #/components resolved), and a problem document's
"status" the HTTP status. 429 and 503 problems must carry Retry-After (the contract's
description of transient refusals).

As a module:
    contract = OpenApiContract.load()            # docs/openapi.yaml of this source tree
    errors = contract.check_response("getCase", 200, "application/json", body_bytes, headers)
    errors = contract.check_webhook(headers, body_bytes)
(an empty list means valid; each error is one human-readable line.)

As a command (for tests written in C++ or shell), body on stdin; exit 0 when valid, 1 with the
errors on stderr otherwise:
    openapi_check.py OPERATION_ID STATUS CONTENT_TYPE [--header NAME:VALUE ...] < body
    openapi_check.py --request "METHOD /target?query" STATUS CONTENT_TYPE [...] < body
(the second form finds the operation by method and path template, e.g. GET /v1/cases/{id}).

Needs python3-yaml and python3-jsonschema (deploy/install-deps.sh); standard library otherwise.
"""

import copy
import json
import os
import re
import sys

import jsonschema
import yaml

DEFAULT_DOCUMENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs",
                                "openapi.yaml")

# RFC 3339 date-time (the "format" the contract uses for instants). jsonschema checks formats
# only when optional packages are installed; the contract's instants are checked here always.
_DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _format_checker():
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("date-time")
    def _is_date_time(value):  # pylint: disable=unused-variable
        return not isinstance(value, str) or _DATE_TIME.match(value) is not None

    return checker


def _media_type(content_type):
    return (content_type or "").split(";")[0].strip().lower()


class OpenApiContract:
    """docs/openapi.yaml, loaded once; checks are pure functions of it."""

    def __init__(self, document):
        self.document = document
        self.operations = {}
        for path, item in document.get("paths", {}).items():
            for method, operation in item.items():
                if isinstance(operation, dict) and "operationId" in operation:
                    self.operations[operation["operationId"]] = (method.upper(), path, operation)
        self._checker = _format_checker()

    @classmethod
    def load(cls, path=None):
        """docs/openapi.yaml of this tree, or the file named by APLUS_OPENAPI."""
        path = path or os.environ.get("APLUS_OPENAPI") or DEFAULT_DOCUMENT
        with open(path, encoding="utf-8") as stream:
            return cls(yaml.safe_load(stream))

    def resolve(self, node):
        """Follows a local "$ref" (#/a/b/c) until a node without one."""
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ValueError("only local $refs are supported: " + ref)
            node = self.document
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
            seen += 1
            if seen > 32:
                raise ValueError("$ref loop at " + ref)
        return node

    def schema_errors(self, schema, instance):
        """Validates `instance` against `schema` (a fragment of the document); its "$ref"s to
        #/components resolve because the document's components travel with the root schema."""
        root = copy.copy(schema) if isinstance(schema, dict) else {"allOf": [schema]}
        root = dict(root)
        root.setdefault("$schema", "https://json-schema.org/draft/2020-12/schema")
        root["components"] = self.document.get("components", {})
        validator = jsonschema.Draft202012Validator(root, format_checker=self._checker)
        errors = []
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.path)):
            where = "/".join(str(part) for part in error.absolute_path) or "(body)"
            errors.append("%s: %s" % (where, error.message))
        return errors

    def operation_for(self, method, target):
        """The operationId serving `method` on `target` (its query ignored), or None."""
        segments = target.split("?", 1)[0].strip("/").split("/")
        for operation_id, (op_method, template, _) in self.operations.items():
            if op_method != method.upper():
                continue
            parts = template.strip("/").split("/")
            if len(parts) == len(segments) and all(
                    p == s or (p.startswith("{") and p.endswith("}") and s)
                    for p, s in zip(parts, segments)):
                return operation_id
        return None

    def response_for(self, operation_id, status):
        """The response object an answer with `status` falls under, or None."""
        if operation_id not in self.operations:
            raise KeyError("no operation " + operation_id + " in openapi.yaml")
        responses = self.operations[operation_id][2].get("responses", {})
        for key in (str(status), "%dXX" % (status // 100), "default"):
            if key in responses:
                return self.resolve(responses[key])
        return None

    def check_response(self, operation_id, status, content_type, body, headers=None):
        """The list of ways the answer breaks the contract (empty: valid). `body` is bytes or
        str; `headers` a mapping (names compared case-insensitively)."""
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        response = self.response_for(operation_id, status)
        label = "%s %d" % (operation_id, status)
        if response is None:
            return ["%s: status not declared by the operation" % label]
        content = response.get("content")
        errors = []
        if not content:
            if body:
                errors.append("%s: a body where the contract declares none" % label)
            return errors
        media = _media_type(content_type)
        if media not in content:
            return ["%s: Content-Type %r is not one of %s" % (label, content_type, sorted(content))]
        if isinstance(body, bytes):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                return ["%s: body is not UTF-8" % label]
        else:
            text = body
        schema = content[media].get("schema", {})
        if media.endswith("json"):
            try:
                instance = json.loads(text)
            except ValueError as error:
                return ["%s: body is not JSON (%s): %r" % (label, error, text[:200])]
        else:
            instance = text
        errors += ["%s: %s" % (label, e) for e in self.schema_errors(schema, instance)]
        if media == "application/problem+json" and isinstance(instance, dict):
            if instance.get("status") != status:
                errors.append("%s: problem status %r is not the HTTP status" %
                              (label, instance.get("status")))
            if status in (429, 503) and "retry-after" not in headers:
                errors.append("%s: a transient refusal without Retry-After" % label)
        for name, header in (response.get("headers") or {}).items():
            header = self.resolve(header)
            if header.get("required") and name.lower() not in headers:
                errors.append("%s: header %s missing" % (label, name))
        return errors

    def check_unrouted(self, status, content_type, body):
        """An answer to a request no operation serves (no such path, wrong method): it must be
        a problem document (#/components/schemas/Problem) with the HTTP status."""
        label = "(no operation) %d" % status
        if status < 400:
            return ["%s: a request no operation serves was not refused" % label]
        if _media_type(content_type) != "application/problem+json":
            return ["%s: Content-Type %r is not application/problem+json" % (label, content_type)]
        try:
            instance = json.loads(body)
        except ValueError as error:
            return ["%s: body is not JSON (%s)" % (label, error)]
        schema = {"$ref": "#/components/schemas/Problem"}
        errors = ["%s: %s" % (label, e) for e in self.schema_errors(schema, instance)]
        if isinstance(instance, dict) and instance.get("status") != status:
            errors.append("%s: problem status %r is not the HTTP status" %
                          (label, instance.get("status")))
        return errors

    def check_webhook(self, headers, body, name="partnerEvent"):
        """A webhook request as the partner's receiver gets it: its headers and JSON body."""
        headers = {k.lower(): v for k, v in (headers or {}).items()}
        operation = self.document["webhooks"][name]["post"]
        errors = []
        for parameter in operation.get("parameters", []):
            parameter = self.resolve(parameter)
            if parameter.get("in") != "header":
                continue
            value = headers.get(parameter["name"].lower())
            if value is None:
                if parameter.get("required"):
                    errors.append("webhook: header %s missing" % parameter["name"])
                continue
            errors += ["webhook header %s: %s" % (parameter["name"], e)
                       for e in self.schema_errors(parameter.get("schema", {}), value)]
        content = operation["requestBody"]["content"]
        media = _media_type(headers.get("content-type"))
        if media not in content:
            return errors + ["webhook: Content-Type %r is not one of %s" %
                             (headers.get("content-type"), sorted(content))]
        try:
            instance = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
        except ValueError as error:
            return errors + ["webhook: body is not JSON (%s)" % error]
        errors += ["webhook: %s" % e
                   for e in self.schema_errors(content[media]["schema"], instance)]
        return errors


def main(argv):
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    contract = OpenApiContract.load()
    if argv[1] == "--request":
        if len(argv) < 5 or " " not in argv[2]:
            print(__doc__, file=sys.stderr)
            return 2
        method, target = argv[2].split(" ", 1)
        operation_id = contract.operation_for(method, target)
        if operation_id is None:
            errors = contract.check_unrouted(int(argv[3]), argv[4], sys.stdin.buffer.read())
            for error in errors:
                print("%s %s: %s" % (method, target, error), file=sys.stderr)
            return 1 if errors else 0
        argv = argv[:1] + [operation_id] + argv[3:]
    operation_id, status, content_type = argv[1], int(argv[2]), argv[3]
    headers = {}
    rest = argv[4:]
    while rest:
        if rest[0] != "--header" or len(rest) < 2 or ":" not in rest[1]:
            print("usage: ... [--header NAME:VALUE ...]", file=sys.stderr)
            return 2
        name, value = rest[1].split(":", 1)
        headers[name.strip()] = value.strip()
        rest = rest[2:]
    errors = contract.check_response(operation_id, status, content_type,
                                     sys.stdin.buffer.read(), headers)
    for error in errors:
        print(error, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
