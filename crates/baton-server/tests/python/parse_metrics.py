"""Reads the OpenMetrics text of baton's /metrics on stdin with the prometheus_client package's
own parser (written by others) and prints every sample as one JSON object:
{"families": {name: type}, "samples": [{"name", "labels", "value"}]}. A text the parser refuses
makes it fail, which fails the test."""

import json
import sys

from prometheus_client.openmetrics.parser import text_string_to_metric_families

families = {}
samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    families[family.name] = family.type
    for sample in family.samples:
        samples.append({"name": sample.name, "labels": sample.labels, "value": sample.value})
print(json.dumps({"families": families, "samples": samples}))
