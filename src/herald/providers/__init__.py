"""The sending provider: the only package that imports aiohttp."""
