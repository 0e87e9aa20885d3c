"""On-site visits: technicians' slots on their route days, booked by clerks or staff."""
