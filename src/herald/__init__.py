"""Herald: a mailing service with exact statistics."""
