"""Storage: SQLAlchemy Core tables, Alembic migrations, a batched durable writer and small
repositories per domain area."""
