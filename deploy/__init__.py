"""Deploying without SAM: `python -m deploy.function` (make deploy-function) and its
rehearsal against moto, `python -m deploy.rehearsal` (make test)."""
