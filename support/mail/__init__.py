"""Tickets by mail: received messages stored raw first and processed second (pipeline), the
doors they come in by (IMAP mailboxes, the MTA pipe, the gateway endpoint), the threading of
the office's own mail, and the pages where held mail is triaged."""
