"""QueryEvents and ExportEvents on real PostgreSQL: every filter, paging across tenants, I5."""
