"""The SQL family: documents in JSON columns through SQLAlchemy Core, on SQLite or PostgreSQL.

Only this package imports SQLAlchemy and the database drivers (an import-linter contract).
"""
