"""The file family: records held in memory (``memory``), optionally kept in a JSON file (``jsonfile``).

A data file is the user's own JSON document; an append-only journal beside it makes every
acknowledged write durable until the document is compacted with an atomic replace.
"""
