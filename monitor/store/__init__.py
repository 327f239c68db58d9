"""The database: tables, engine set-up and migrations, bulk writes, leases, checkpoints, retention, Arrow reads.

It knows no source: sources hand posts to ingest, and ingest writes them here."""
