"""Validates an OpenAPI document with openapi-spec-validator (an independent
implementation of the OpenAPI 3.1 schema); prints the version it checked."""
import json
import sys

from openapi_spec_validator import validate

with open(sys.argv[1]) as f:
    document = json.load(f)
validate(document)
print(document["openapi"])
