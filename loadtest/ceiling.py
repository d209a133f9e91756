"""The ceiling: a bare Flask app answering a fixed 50-item list shaped like a nearby list.

Served by the same gunicorn config as connect and driven the same way, it gives the
requests per second no Flask endpoint returning such a list can beat on this machine.
``/items`` serialises the list on every call (jsonify, as a plain Flask view would);
``/items-encoded`` returns it already encoded, the framework alone.
"""

import os
import sys

import orjson
from flask import Flask, Response, jsonify

# bench/bench.py's texts: the same bytes per item as the generated requests.
sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
)
from bench import DESCRIPTIONS  # noqa: E402

ITEMS = [
    {
        "id": 100_000 + i,
        "categories": ["food", "medicine"][: 1 + i % 2],
        "description": DESCRIPTIONS[i % len(DESCRIPTIONS)],
        "household_size": 1 + i % 8,
        "urgency": "urgent" if i % 5 == 0 else "normal",
        "location": {"lat": round(21.27 + i * 0.0007, 5), "lon": round(106.19 + i * 0.0005, 5)},
        "created_at": f"2026-11-25T{i % 24:02d}:{i % 60:02d}:00Z",
        "status": "open",
        "distance_m": 100 * (i + 1),
    }
    for i in range(50)
]

app = Flask(__name__)
app.json.sort_keys = False  # as connect's
app.json.ensure_ascii = False  # UTF-8 like the nearby list, not \u escapes
_ENCODED = orjson.dumps({"items": ITEMS})


@app.get("/items")
def items():
    return jsonify(items=ITEMS)


@app.get("/items-encoded")
def items_encoded():
    return Response(_ENCODED, mimetype="application/json")
