"""Validate Kubernetes custom resources offline against the CRDs' own OpenAPI v3 schemas.

The CRDs live in ../shared/schemas beside the checkout (not copied into the repository).
"""

import glob
import os

import jsonschema
import yaml


class CrdSchemas:
    def __init__(self, *directories):
        self.schemas = {}
        for directory in directories:
            for path in sorted(glob.glob(os.path.join(directory, "*.y*ml"))):
                with open(path, encoding="utf-8") as handle:
                    for doc in yaml.safe_load_all(handle):
                        if doc and doc.get("kind") == "CustomResourceDefinition":
                            self._add(doc)
        if not self.schemas:
            raise FileNotFoundError("no CustomResourceDefinition found in %s" % ", ".join(directories))

    def _add(self, crd):
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            self.schemas[("%s/%s" % (group, version["name"]), kind)] = version["schema"]["openAPIV3Schema"]

    def errors(self, obj):
        """A list of messages; empty when obj is valid for the CRD version its apiVersion names."""
        schema = self.schemas.get((obj.get("apiVersion"), obj.get("kind")))
        if schema is None:
            return ["no schema for %s %s" % (obj.get("apiVersion"), obj.get("kind"))]
        validator = jsonschema.Draft7Validator(schema)
        return ["%s: %s" % ("/".join(str(p) for p in err.absolute_path), err.message) for err in validator.iter_errors(obj)]
