"""The yardstick: a bare FastAPI endpoint that validates a small pydantic body.

``POST /bare`` takes ``{"age_years": 58, "subtype": "dystrophic", "symptomatic": true}``,
validates it and answers it back; nothing else (no middleware, no database). The side
by side benchmark (``bench_side_by_side.py``) serves it with the same uvicorn, the same
httptools protocol and the same uvloop event loop as ``calcinosis serve`` and prints each
route's speed as a ratio to it.

Run alone: .venv/bin/python benchmarks/bare.py PORT   (127.0.0.1 only)
"""

from __future__ import annotations

import sys
from typing import Literal

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    age_years: int = Field(ge=0, le=120)
    subtype: Literal["dystrophic", "metastatic", "idiopathic", "iatrogenic", "calciphylaxis"]
    symptomatic: bool | None = None


@app.post("/bare")
def bare(body: Body) -> Body:
    return body


if __name__ == "__main__":
    port = int(sys.argv[1])
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        http="httptools",
        loop="uvloop",
        log_level="warning",
        access_log=False,
    )
