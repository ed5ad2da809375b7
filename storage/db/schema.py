"""The whole schema: every domain's models, registered on the one metadata migrations compare."""

from __future__ import annotations

from sqlalchemy import MetaData

from storage.circles import models as circles
from storage.db import models as records
from storage.db.base import Base
from storage.finance import models as finance
from storage.installations import models as installations
from storage.ledger import models as ledger
from storage.lending import models as lending
from storage.notifications import models as notifications
from storage.projects import models as projects
from storage.repayments import models as repayments

# Importing a domain's models registers its tables; naming the modules keeps the imports.
DOMAINS = (
    circles,
    records,
    finance,
    installations,
    ledger,
    lending,
    notifications,
    projects,
    repayments,
)
METADATA: MetaData = Base.metadata
