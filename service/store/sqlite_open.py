"""Opening a store's file that may not open yet: a worker starts even when its disk cannot be
used (read-only, full, not mounted yet), refuses records until the file opens, and tries again
by itself. Failing the start instead would stop the whole service: uvicorn ends every worker
when one fails to start, and it starts one whenever a worker dies, also during a disk fault."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from service.store.sqlite_conn import DB_ERRORS

log = logging.getLogger(__name__)

# Tried again at most this often: a try is a thread hop and a failing open, and the requests
# that come meanwhile are refused at once.
REOPEN_S = 0.5
NOT_OPENED = "not opened yet"


class Opening:
    """`migrate` (create the table, add later columns) run until it has succeeded once."""

    def __init__(self, path: Path, table: str, migrate: Callable[[], None]) -> None:
        self.path, self.table, self._migrate = path, table, migrate
        self.error: str | None = NOT_OPENED  # why the file is not open yet (None: it is)
        self._trying = False
        self._tried_at = -REOPEN_S

    async def ensure(self) -> bool:
        """True once the file is open; else one more try, at most every REOPEN_S."""
        if self.error is None:
            return True
        now = time.monotonic()
        if self._trying or now - self._tried_at < REOPEN_S:
            return False
        self._trying, self._tried_at = True, now
        try:
            await asyncio.to_thread(self._migrate)
        except DB_ERRORS as exc:
            message = str(exc) or type(exc).__name__
            if message != self.error:  # one line per new kind of failure
                log.error("cannot open %s (%s), refusing records until it opens: %s", self.path, self.table, message)
            self.error = message
            return False
        finally:
            self._trying = False
        if self.error != NOT_OPENED:
            log.info("%s (%s) opened after all", self.path, self.table)
        self.error = None
        return True
