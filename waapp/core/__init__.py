"""The domain, pure Python: no Qt, SQLAlchemy, httpx or aiohttp imports here (a test checks)."""
