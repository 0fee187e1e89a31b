"""Deterministic JSONPlaceholder-like data for the benchmarks: users, posts and ~5 comments per post.

The shape follows JSONPlaceholder (``/posts``: userId, id, title, body; ``/comments``: postId, id,
name, email, body; ten posts per user), scaled to any number of posts. The same ``posts`` and ``seed``
always give the same bytes, written two-space indented as json-server writes its file.

    python bench/data.py 100000 db.json
"""

# ruff: noqa: T201, SIM905 - a script

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import orjson

WORDS = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore "
    "magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea commodo "
    "consequat duis aute irure in reprehenderit voluptate velit esse cillum fugiat nulla pariatur excepteur sint "
    "occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim id est laborum"
).split()
POSTS_PER_USER = 10
COMMENTS_PER_POST = 5
DOMAINS = ("example.com", "example.org", "example.net", "mail.test")


def _words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choices(WORDS, k=rng.randint(low, high)))


def _body(rng: random.Random) -> str:
    return "\n".join(_words(rng, 6, 10) for _ in range(4))


def generate(posts: int, seed: int = 1) -> dict[str, Any]:
    """``posts`` posts, ``posts // 10`` users (at least 1) and ``5 * posts`` comments."""
    rng = random.Random(seed)
    users = [
        {
            "id": user,
            "name": _words(rng, 2, 2).title(),
            "username": f"user{user}",
            "email": f"user{user}@{DOMAINS[user % len(DOMAINS)]}",
        }
        for user in range(1, max(1, posts // POSTS_PER_USER) + 1)
    ]
    post_rows = [
        {"userId": (post - 1) // POSTS_PER_USER + 1, "id": post, "title": _words(rng, 3, 8), "body": _body(rng)}
        for post in range(1, posts + 1)
    ]
    comments = [
        {
            "postId": (comment - 1) // COMMENTS_PER_POST + 1,
            "id": comment,
            "name": _words(rng, 3, 7),
            "email": f"{rng.choice(WORDS).title()}@{rng.choice(DOMAINS)}",
            "body": _body(rng),
        }
        for comment in range(1, posts * COMMENTS_PER_POST + 1)
    ]
    return {"users": users, "posts": post_rows, "comments": comments}


def encode(document: dict[str, Any]) -> bytes:
    """Two-space indented, as json-server writes its file."""
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"


def write(posts: int, path: Path) -> Path:
    """Write the data set for ``posts`` posts to ``path`` (kept if it already holds the same size)."""
    marker = path.with_suffix(path.suffix + ".posts")
    if path.exists() and marker.exists() and marker.read_text() == str(posts):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(generate(posts)))
    marker.write_text(str(posts))
    return path


if __name__ == "__main__":
    written = write(int(sys.argv[1]), Path(sys.argv[2]))
    print(f"{written}: {written.stat().st_size / 1e6:.1f} MB")
