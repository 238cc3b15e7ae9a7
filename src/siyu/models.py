"""Every database model, imported in one place so metadata is complete (migrations, tests)."""

from siyu.auth.models import ApiToken
from siyu.db import Base
from siyu.sources.models import Source, SourceKey

__all__ = ["ApiToken", "Base", "Source", "SourceKey"]
