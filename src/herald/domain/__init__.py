"""Pure rules: statuses, client fields, filters, retry policy. No I/O here."""
