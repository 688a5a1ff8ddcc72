"""The bench's Python peer: the lean service a competent Python engineer would write for xent's /cost and /loss.

FastAPI routes that read the raw body, parse it with the standard library's json, turn it into float64 numpy arrays
in one call and compute the cross-entropy vectorised, numerically stable (max-shift, then log-sum-exp); no pydantic
model for the tensors (validating 400 000 floats one by one is what nobody does twice), no Python loop over
elements. Run in two uvicorn worker processes, one a core (serve.py says why each has its own socket):

    cd bench/peers/python && python3 serve.py --host 127.0.0.1 --port 3003 --workers 2
    cd bench/peers/python && python3 -m uvicorn app:app --port 3003 --workers 2 --no-access-log   # the same app

Accepts xent's labels form: {"logits": [N][C], "labels": [N]} with an optional "ignore_index" (default -100, as
PyTorch and xent) and "unit" ("nats" or "bits"); answers the same fields as xent. Anything else (other fields,
non-finite or non-numeric logits, ragged rows, labels out of range) is a 400 with a one-line reason. The loss is the
textbook log(sum(exp(x - m))) + m - x[y]: equal to xent's to ~1e-16 on ordinary logits; xent keeps more precision
with a common offset of 1e15 or losses under 1e-17, which this form rounds away.
"""

import json
import math
import os

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

ALLOWED = frozenset(("logits", "labels", "ignore_index", "unit"))
HEALTHZ = json.dumps({"status": "ok", "pid": os.getpid()}).encode()
LN2 = math.log(2.0)


class BadRequest(Exception):
    pass


def _no_constants(name):
    raise BadRequest(f"{name} is not a JSON number")


def _array(value, name, kinds):
    """value as a numpy array whose dtype kind is one of `kinds` (strings, None, objects and ragged rows are refused)."""
    try:
        a = np.asarray(value)
    except ValueError as e:  # ragged: "setting an array element with a sequence" / "inhomogeneous shape"
        raise BadRequest(f"{name}: {e}") from None
    if a.dtype.kind not in kinds:
        raise BadRequest(f"{name}: numbers expected")
    return a


def score(body, with_losses):
    try:
        doc = json.loads(body, parse_constant=_no_constants)
    except (ValueError, RecursionError) as e:
        raise BadRequest(f"body is not JSON: {e}") from None
    if not isinstance(doc, dict) or "logits" not in doc or "labels" not in doc:
        raise BadRequest('{"logits": [N][C], "labels": [N]} expected')
    unknown = doc.keys() - ALLOWED
    if unknown:
        raise BadRequest(f"not supported here: {', '.join(sorted(unknown))}")
    ignore_index = doc.get("ignore_index", -100)
    if type(ignore_index) is not int:
        raise BadRequest("ignore_index: an integer expected")
    unit = doc.get("unit", "nats")
    if unit not in ("nats", "bits"):
        raise BadRequest('unit: "nats" or "bits" expected')

    x = _array(doc["logits"], "logits", "iuf").astype(np.float64, copy=False)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise BadRequest("logits: shape [N][C] with N, C >= 1 expected")
    if not np.isfinite(x).all():
        raise BadRequest("logits: finite numbers expected")
    n, c = x.shape
    y = _array(doc["labels"], "labels", "iuf")
    if y.shape != (n,):
        raise BadRequest(f"labels: shape [{n}] expected")
    if y.dtype.kind == "f":
        if not ((np.abs(y) < 2.0**53).all() and (y == np.floor(y)).all()):
            raise BadRequest("labels: integers expected")
    y = y.astype(np.int64)
    keep = y != ignore_index
    every = bool(keep.all())  # the usual case: nothing ignored, no masking
    counted = y if every else y[keep]
    if counted.size > 0 and (counted.min() < 0 or counted.max() >= c):
        raise BadRequest(f"labels: class indices in [0, {c}) expected")
    count = counted.size

    # loss_i = logsumexp(x_i) - x_i[y_i], logsumexp(x_i) = m_i + log(sum_c exp(x_ic - m_i)), m_i = max_c x_ic.
    rows = np.arange(n)
    k = x.argmax(axis=1)  # the first maximum on ties, as xent
    m = x[rows, k]
    e = x - m[:, None]
    np.exp(e, out=e)
    losses = np.log(e.sum(axis=1))
    losses += m
    losses -= x[rows, y if every else np.where(keep, y, 0)]
    hits = k == y
    if not every:
        losses[~keep] = 0.0
        hits &= keep
    total = float(losses.sum())
    if not math.isfinite(total):
        raise BadRequest("the sum of the losses exceeds the float64 range")
    cost = total / count if count > 0 else None
    try:
        perplexity = math.exp(cost) if cost is not None else None
    except OverflowError:
        perplexity = None
    accuracy = np.count_nonzero(hits) / count if count > 0 else None
    if unit == "bits":
        losses /= LN2
        total /= LN2
        cost = cost / LN2 if cost is not None else None

    out = {"sum": total, "cost": cost, "count": count, "total_weight": count, "perplexity": perplexity, "accuracy": accuracy, "unit": unit}
    if with_losses:
        out = {"losses": losses.tolist(), **out}
    return json.dumps(out)


async def answer(request, with_losses):
    body = await request.body()
    try:
        return Response(score(body, with_losses), media_type="application/json")
    except BadRequest as e:
        return Response(json.dumps({"error": str(e)}), status_code=400, media_type="application/json")


@app.post("/cost")
async def cost(request: Request):
    return await answer(request, False)


@app.post("/loss")
async def loss(request: Request):
    return await answer(request, True)


@app.get("/healthz")
async def healthz():
    return Response(HEALTHZ, media_type="application/json")
