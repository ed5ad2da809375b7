"""The end-to-end harness fixtures (`harness`, `harness_on_db`), defined in `tests.harness`."""

from tests.harness import harness, harness_on_db

__all__ = ["harness", "harness_on_db"]
