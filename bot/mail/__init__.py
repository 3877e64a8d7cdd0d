"""Email: the durable outbox every email goes through, the SMTP sender, and the mail worker."""
