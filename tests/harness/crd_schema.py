"""Validate Kubernetes custom resources offline against the CRDs' own OpenAPI v3 schemas.

The CRDs live in ../shared/schemas beside the checkout (not copied into the repository).
"""

import glob
import os

import jsonschema
import yaml

LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: the CRD files are megabytes


def strict_schema(schema):
    """A copy of an OpenAPI schema that rejects unknown fields, as the API server's strict field
    validation does: additionalProperties false wherever properties are listed, unless the schema
    keeps unknown fields (x-kubernetes-preserve-unknown-fields) or says what extra keys hold."""
    if not isinstance(schema, dict):
        return schema
    found = {}
    for key, value in schema.items():
        if key == "properties":
            found[key] = {name: strict_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            found[key] = strict_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            found[key] = [strict_schema(sub) for sub in value]
        else:
            found[key] = value
    if "properties" in schema and "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
        found["additionalProperties"] = False
    return found


class CrdSchemas:
    def __init__(self, *directories, strict=False):
        self.strict = strict
        self.schemas = {}
        for directory in directories:
            for path in sorted(glob.glob(os.path.join(directory, "*.y*ml"))):
                with open(path, encoding="utf-8") as handle:
                    for doc in yaml.load_all(handle, Loader=LOADER):
                        if doc and doc.get("kind") == "CustomResourceDefinition":
                            self._add(doc)
        if not self.schemas:
            raise FileNotFoundError("no CustomResourceDefinition found in %s" % ", ".join(directories))

    def _add(self, crd):
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            schema = version["schema"]["openAPIV3Schema"]
            self.schemas[("%s/%s" % (group, version["name"]), kind)] = strict_schema(schema) if self.strict else schema

    def errors(self, obj):
        """A list of messages; empty when obj is valid for the CRD version its apiVersion names."""
        schema = self.schemas.get((obj.get("apiVersion"), obj.get("kind")))
        if schema is None:
            return ["no schema for %s %s" % (obj.get("apiVersion"), obj.get("kind"))]
        if self.strict and "metadata" in obj:  # ObjectMeta is the API server's, not in the CRD: checked apart
            obj = dict(obj, metadata={})
        validator = jsonschema.Draft7Validator(schema)
        return ["%s: %s" % ("/".join(str(p) for p in err.absolute_path), err.message) for err in validator.iter_errors(obj)]
