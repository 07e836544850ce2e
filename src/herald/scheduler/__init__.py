"""Fan-out, enqueue, rescue and expiry: what moves messages towards the workers."""
