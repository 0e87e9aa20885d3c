"""Path arguments of the support routes: a time entry of today (an open month) by the
technician, and a ticket of the council with a public reply and a file on it.

Loaded after tests/samples/agreements.py (alphabetical order), whose agreement covers today.
The ticket is new and unassigned, so the matrix's POSTs (status, take, time...) find it in a
state where each of them means something.
"""

from __future__ import annotations


def provide(world, side):
    from agreements.months import office_today
    from support.hours import services as hours
    from support.tickets import services

    council = world.council_a if side == "a" else world.council_b
    clerk = world.clerk_a if side == "a" else world.clerk_b
    entry = hours.create_entry(council, {"date": office_today(), "minutes": 45, "mode": "onsite",
                                         "description": f"Sample entry {side}", "travel_minutes": 30},
                               actor=world.technician)
    ticket = services.create_ticket(council, {"title": f"Sample ticket {side}", "description": "It does not print",
                                              "category": "hardware"}, actor=clerk,
                                    files=[("note.txt", b"The printer shows error 0x42.\n")])
    comment = services.add_comment(ticket, "We will look at it today.", internal=False, actor=world.technician)
    attachment = services.attachments_of(ticket)[0]
    return {"entry_id": entry.id, "ticket_id": ticket.id, "comment_id": comment.id, "attachment_id": attachment.id}
