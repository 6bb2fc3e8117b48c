#!/usr/bin/env python3
"""Checks Sutradhar's attestations with verifiers nobody on the project wrote.

usage: verify_attestation.py PUBLIC_KEY.pem ENVELOPE.json [ENVELOPE.json ...] [--sbom BOM.json ...]

- securesystemslib verifies each DSSE envelope with the exported Ed25519 key (the key id is
  computed here from the key itself, as SHA-256 of its SubjectPublicKeyInfo DER);
- in-toto-attestation checks the statement (Statement v1 rules) and parses its predicate strictly
  into the official protobuf of SLSA provenance v1 or test-result v0.1 (an unknown field fails);
- jsonschema checks the statement against the shape below;
- cyclonedx-python-lib validates each SBOM against the CycloneDX 1.5 JSON schema.
Prints one line per check and exits 0 only if every one passed.
"""
import base64
import hashlib
import json
import sys

import jsonschema
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.predicates.test_result.v0 import test_result_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

DIGEST = {"type": "object", "minProperties": 1, "additionalProperties": {"type": "string", "minLength": 1}}
DESCRIPTOR = {
    "type": "object",
    "anyOf": [{"required": ["uri"]}, {"required": ["digest"]}],
    "properties": {"name": {"type": "string"}, "uri": {"type": "string"}, "digest": DIGEST,
                   "mediaType": {"type": "string"}, "annotations": {"type": "object"}},
    "additionalProperties": False,
}
STATEMENT_SCHEMA = {
    "type": "object",
    "required": ["_type", "subject", "predicateType", "predicate"],
    "properties": {
        "_type": {"const": "https://in-toto.io/Statement/v1"},
        "subject": {"type": "array", "minItems": 1,
                    "items": {**DESCRIPTOR, "required": ["digest"]}},
        "predicateType": {"enum": ["https://slsa.dev/provenance/v1", "https://in-toto.io/attestation/test-result/v0.1"]},
        "predicate": {"type": "object"},
    },
    "additionalProperties": False,
    "allOf": [
        {"if": {"properties": {"predicateType": {"const": "https://slsa.dev/provenance/v1"}}},
         "then": {"properties": {"predicate": {
             "required": ["buildDefinition", "runDetails"],
             "properties": {
                 "buildDefinition": {"required": ["buildType", "externalParameters"],
                                     "properties": {"buildType": {"type": "string", "format": "uri", "minLength": 1},
                                                    "externalParameters": {"type": "object"},
                                                    "resolvedDependencies": {"type": "array", "items": DESCRIPTOR}}},
                 "runDetails": {"required": ["builder"],
                                "properties": {"builder": {"required": ["id"]},
                                               "metadata": {"properties": {"invocationId": {"type": "string"}}}}},
             }}}}},
        {"if": {"properties": {"predicateType": {"const": "https://in-toto.io/attestation/test-result/v0.1"}}},
         "then": {"properties": {"predicate": {
             "required": ["result", "configuration"],
             "properties": {"result": {"enum": ["PASSED", "WARNED", "FAILED"]},
                            "configuration": {"type": "array", "items": DESCRIPTOR}}}}}},
    ],
}
PREDICATES = {
    "https://slsa.dev/provenance/v1": provenance_pb2.Provenance,
    "https://in-toto.io/attestation/test-result/v0.1": test_result_pb2.TestResult,
}


def check_envelope(path, key):
    with open(path, "rb") as handle:
        envelope = Envelope.from_dict(json.load(handle))
    envelope.verify([key], 1)
    print(f"securesystemslib: {path}: signature by {key.keyid} verifies")
    statement_json = json.loads(envelope.payload)
    jsonschema.validate(statement_json, STATEMENT_SCHEMA)
    print(f"jsonschema: {path}: statement shape holds")
    proto = json_format.Parse(envelope.payload, statement_pb2.Statement())
    Statement.copy_from_pb(proto).validate()
    predicate = PREDICATES[proto.predicate_type]()
    json_format.Parse(json.dumps(statement_json["predicate"]), predicate)
    print(f"in-toto-attestation: {path}: statement valid, predicate parses as {type(predicate).__name__}")


def check_sbom(path):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    error = JsonStrictValidator(SchemaVersion.V1_5).validate_str(text)
    if error is not None:
        raise ValueError(f"CycloneDX 1.5 schema: {error}")
    print(f"cyclonedx-python-lib: {path}: valid CycloneDX 1.5")


def main(arguments):
    if len(arguments) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(arguments[0], "rb") as handle:
        public = load_pem_public_key(handle.read())
    keyid = hashlib.sha256(public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)).hexdigest()
    key = SSlibKey.from_crypto(public, keyid=keyid)
    envelopes, sboms, target = [], [], None
    for argument in arguments[1:]:
        if argument == "--sbom":
            target = sboms
        else:
            (target if target is not None else envelopes).append(argument)
    failures = 0
    for path in envelopes:
        try:
            check_envelope(path, key)
        except Exception as error:  # every verifier's own error type: report and go on
            failures += 1
            print(f"FAILED {path}: {type(error).__name__}: {error}")
    for path in sboms:
        try:
            check_sbom(path)
        except Exception as error:
            failures += 1
            print(f"FAILED {path}: {type(error).__name__}: {error}")
    print(f"{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
