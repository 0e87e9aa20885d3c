"""The hours ledger: time entries against the agreements' monthly allowances, corrections of
closed months, usage and forecast, and the allowance thresholds.

models (tables) · services (entries: the rules) · figures (usage, forecast) · usage (its
arithmetic, without the database) · thresholds (80 % / 100 % announcements) · jobs (catch-up,
`flask hours`) · forms, views, api (pages and API on support.blueprint) · demo.
"""
