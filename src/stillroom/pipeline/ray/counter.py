"""The occurrence counter of a task with several replicas, one small actor per such step.

Duplicates of one prompt may reach two replicas at once, and each occurrence must get its
own key, so the replicas ask this actor (`journal.CountedRequests`) for each request's
occurrence; it holds a dict and no storage. It lives in a module that imports nothing, so
the worker process that holds it starts without importing the request path (that import
took a third of a second of CPU, during the replicas' start-up, on a 2-core machine).
"""

from __future__ import annotations


class StepCounter:
    """Occurrence counts of one multi-replica task's request contents: the committed counts
    plus every occurrence keyed since, less those of attempts whose replica died."""

    def __init__(self, counts: dict[bytes, int]) -> None:
        self.counts = counts
        self._attempts: dict[str, list[bytes]] = {}
        self._abandoned: set[str] = set()

    def occurrences(self, requests: list[tuple[bytes, str | None]]) -> list[int]:
        """The occurrence of each (content, attempt), counted as sent; not counted for an
        abandoned attempt (a replica that died with its node runs on for a moment, and
        must not take the occurrences its unit's new attempt will key)."""
        result = []
        for content, attempt in requests:
            count = self.counts.get(content, 0)
            result.append(count)
            if attempt in self._abandoned:
                continue
            self.counts[content] = count + 1
            if attempt is not None:
                self._attempts.setdefault(attempt, []).append(content)
        return result

    def settle(self, attempts: list[str]) -> None:
        """Attempts whose units came back: their occurrences stay counted for good (sent in
        groups by the driver, so finished units cost no call each)."""
        for attempt in attempts:
            self._attempts.pop(attempt, None)

    def abandon(self, attempt: str) -> None:
        """The attempt's unit runs again: its occurrences are free to be keyed again."""
        self._abandoned.add(attempt)
        for content in self._attempts.pop(attempt, []):
            self.counts[content] -= 1
