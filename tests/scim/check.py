"""Runs scim2-tester (an RFC 7643/7644 compliance checker) against a SCIM server.

Usage: python check.py BASE_URL  (the bearer token in SCIM_TOKEN)

Prints every check's status and reason, then a summary line
`scim2-tester: N checks, S succeeded, F failed, K skipped`; exits 1 when any check failed
(an ERROR or CRITICAL status), 0 otherwise.
"""

import os
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def main() -> int:
    base = sys.argv[1].rstrip("/")
    token = os.environ["SCIM_TOKEN"]
    http = Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    client = SyncSCIMClient(http)
    results = check_server(client, raise_exceptions=False)
    failed = succeeded = skipped = 0
    for result in results:
        status = result.status
        name = getattr(result, "title", None) or getattr(result, "description", "") or ""
        resource = getattr(result, "resource_type", None) or ""
        reason = getattr(result, "reason", None) or ""
        print(f"{status.name:9} {resource:6} {name}: {reason}")
        if status in (Status.ERROR, Status.CRITICAL):
            failed += 1
            data = getattr(result, "data", None)
            if data is not None:
                print(f"          data: {data!r}"[:2000])
        elif status == Status.SKIPPED:
            skipped += 1
        else:
            succeeded += 1
    print(
        f"scim2-tester: {len(results)} checks, {succeeded} succeeded, {failed} failed, {skipped} skipped"
    )
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
