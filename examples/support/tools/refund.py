#!/usr/bin/env python3
"""The support desk's refund tool, run by baton as a `command` tool.

Stands in for a refunds API: it answers from data/refunds.json. baton writes the call's
arguments as JSON on stdin and reads the result from stdout; a non-zero exit with a message on
stderr is an error the model reads. A real refunds API would be sent BATON_IDEMPOTENCY_KEY, so
that a call run again after a crash refunds once.
"""
import json
import os
import sys

arguments = json.load(sys.stdin)
invoice = str(arguments.get("invoice_number", ""))
data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "refunds.json")
with open(data, encoding="utf-8") as file:
    refunds = json.load(file)
if invoice not in refunds:
    print(f"no invoice {invoice} to refund: check the invoice number", file=sys.stderr)
    sys.exit(1)
print(json.dumps(refunds[invoice]))
