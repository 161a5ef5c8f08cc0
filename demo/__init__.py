"""The demo organisation (`manage.py seed_demo`): an app of its own, above every other app, so
that `crm` needs to know nothing of `teams` or `locking` to seed them."""
