"""moto_server with the one thing the vault tests need and moto 5.1.22 lacks: a copy of a snapshot that another
account shared (`restore` attribute) with the caller. moto looks a source ARN up in the caller's own account
only; AWS resolves it in the owner's account when the caller is allowed to restore it. Everything else is moto."""

import sys

from moto.rds import models
from moto.server import main

own_lookup = models.RDSBackend.get_snapshot


def get_snapshot(self, identifier, resource_type, not_found_exception):
    parts = identifier.split(":")
    if identifier.startswith("arn:") and len(parts) >= 7 and parts[4] != self.account_id:
        owner = models.rds_backends[parts[4]][parts[3]]
        snapshot = owner.resource_map[resource_type].get(parts[-1])
        if snapshot is None or self.account_id not in snapshot.attributes["restore"]:
            raise not_found_exception(identifier)
        return snapshot
    return own_lookup(self, identifier, resource_type, not_found_exception)


models.RDSBackend.get_snapshot = get_snapshot

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
