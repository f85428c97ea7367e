"""Entry point for the MicroPython interpreter: run one scenario, print its result as JSON.

micropython tests/net/run_scenario.py NAME URL JSON_ARG
"""

import asyncio
import json
import sys

import scenarios

result = asyncio.run(scenarios.run(sys.argv[1], sys.argv[2], json.loads(sys.argv[3])))
print("RESULT " + json.dumps(result))
