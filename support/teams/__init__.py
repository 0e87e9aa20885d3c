"""Teams that route new tickets to their members (round robin or fewest open tickets), their
queues, and the absences that take a member out of routing."""
