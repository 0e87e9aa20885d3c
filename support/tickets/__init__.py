"""Tickets: requests for help from the councils, worked by the office.

models (tables) · services (the workflow and a ticket's parts) · ratings · attachments (files:
checked, stored, attached) · queue (sort key and filters) · search (text) · sla (clocks, pure) ·
sla_state (the SLA stored on tickets, breaches) · claims (insert-once) · labels (words) ·
notifications · monitoring (alerts become tickets) · jobs (scheduler, `flask tickets`) · forms,
views, api (pages and API on support.blueprint) · demo.
"""
