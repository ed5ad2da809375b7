"""Importers: projects from Kiva's data or microlend's own CSV/JSON format, and partners'
repayment reports. Every importer streams its file and reports bad rows by line number."""

from storage.importers.projects import ProjectFormat, import_projects
from storage.importers.repayments import import_repayments
from storage.importers.rows import ImportFileError, ImportReport, RowProblem

__all__ = [
    "ImportFileError",
    "ImportReport",
    "ProjectFormat",
    "RowProblem",
    "import_projects",
    "import_repayments",
]
