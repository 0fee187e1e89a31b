"""The built-in demo data: JSONPlaceholder's resources, fields and relations, generated deterministically.

posts 100, comments 500, albums 100, photos 5000, todos 200, users 10 — the same counts and
relations as jsonplaceholder.typicode.com (each user has 10 posts, 10 albums and 20 todos; each post
5 comments; each album 50 photos). The text is pseudo-Latin from a seeded generator, so every run
serves the same data.

Example:
    >>> data = demo_data()
    >>> len(data["posts"]), data["posts"][0]["userId"]
    (100, 1)
"""

from __future__ import annotations

import random

from jsonserve._types import JSONValue

_TEXT = (
    "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore "
    "magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea commodo "
    "consequat duis aute irure in reprehenderit voluptate velit esse cillum fugiat nulla pariatur excepteur sint "
    "occaecat cupidatat non proident sunt culpa qui officia deserunt mollit anim id est laborum"
)
_WORDS = tuple(_TEXT.split())
_NAMES = (
    ("Leanne Graham", "Bret"), ("Ervin Howell", "Antonette"), ("Clementine Bauch", "Samantha"),
    ("Patricia Lebsack", "Karianne"), ("Chelsey Dietrich", "Kamren"), ("Mrs. Dennis Schulist", "Leopoldo_Corkery"),
    ("Kurtis Weissnat", "Elwyn.Skiles"), ("Nicholas Runolfsdottir V", "Maxime_Nienow"),
    ("Glenna Reichert", "Delphine"), ("Clementina DuBuque", "Moriah.Stanton"),
)  # fmt: skip


def demo_data(seed: int = 1) -> dict[str, JSONValue]:
    """A fresh copy of the demo data set."""
    rng = random.Random(seed)

    def words(low: int, high: int) -> str:
        return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(low, high)))

    def paragraph() -> str:
        return "\n".join(words(6, 12) for _ in range(4))

    users = [_user(i, name, username, rng) for i, (name, username) in enumerate(_NAMES, start=1)]
    posts = [{"userId": (i - 1) // 10 + 1, "id": i, "title": words(3, 8), "body": paragraph()} for i in range(1, 101)]
    comments = [
        {"postId": (i - 1) // 5 + 1, "id": i, "name": words(3, 6), "email": _email(rng), "body": paragraph()}
        for i in range(1, 501)
    ]
    albums = [{"userId": (i - 1) // 10 + 1, "id": i, "title": words(2, 6)} for i in range(1, 101)]
    photos = [_photo(i, words(3, 7), rng) for i in range(1, 5001)]
    todos = [
        {"userId": (i - 1) // 20 + 1, "id": i, "title": words(2, 7), "completed": rng.random() < 0.45}
        for i in range(1, 201)
    ]
    return {"posts": posts, "comments": comments, "albums": albums, "photos": photos, "todos": todos, "users": users}  # type: ignore[dict-item]


def _email(rng: random.Random) -> str:
    return f"{rng.choice(_WORDS)}.{rng.choice(_WORDS)}@{rng.choice(_WORDS)}.example"


def _photo(i: int, title: str, rng: random.Random) -> dict[str, JSONValue]:
    color = f"{rng.randrange(0x1000000):06x}"
    return {
        "albumId": (i - 1) // 50 + 1,
        "id": i,
        "title": title,
        "url": f"https://via.placeholder.com/600/{color}",
        "thumbnailUrl": f"https://via.placeholder.com/150/{color}",
    }


def _user(i: int, name: str, username: str, rng: random.Random) -> dict[str, JSONValue]:
    return {
        "id": i,
        "name": name,
        "username": username,
        "email": f"{username.lower()}@example.com",
        "address": {
            "street": f"{rng.choice(_WORDS).title()} Street",
            "suite": f"Apt. {rng.randint(100, 999)}",
            "city": rng.choice(_WORDS).title() + "ville",
            "zipcode": f"{rng.randint(10000, 99999)}-{rng.randint(1000, 9999)}",
            "geo": {"lat": f"{rng.uniform(-90, 90):.4f}", "lng": f"{rng.uniform(-180, 180):.4f}"},
        },
        "phone": f"1-{rng.randint(200, 999)}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
        "website": f"{username.lower().replace('.', '-').replace('_', '-')}.example.org",
        "company": {
            "name": f"{rng.choice(_WORDS).title()}-{rng.choice(_WORDS).title()}",
            "catchPhrase": words_title(rng),
            "bs": " ".join(rng.choice(_WORDS) for _ in range(3)),
        },
    }


def words_title(rng: random.Random) -> str:
    """A short capitalised phrase."""
    return " ".join(rng.choice(_WORDS) for _ in range(3)).capitalize()


STARTER: dict[str, JSONValue] = {
    "posts": [
        {"id": 1, "title": "Hello, jsonserve", "views": 100, "userId": 1},
        {"id": 2, "title": "A second post", "views": 200, "userId": 1},
    ],
    "comments": [
        {"id": 1, "text": "a comment about post 1", "postId": 1},
        {"id": 2, "text": "another comment about post 1", "postId": 1},
    ],
    "users": [{"id": 1, "name": "Ada"}],
    "profile": {"name": "jsonserve"},
}
"""What ``jsonserve init`` writes (and what a missing data file starts with)."""
