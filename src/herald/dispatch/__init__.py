"""The worker: claim a batch, send it through the provider, write the outcomes back."""
