// Package migrations holds the SQL schema migrations, one folder of
// numbered files per dialect, applied in order by goose when a store opens.
// The schema changes only through new files here, never through code.
package migrations

import "embed"

// SQLite holds the SQLite migrations under sqlite/, named
// NNNN_description.sql with goose annotations. goose reads them from
// fs.Sub(SQLite, "sqlite") with goose.DialectSQLite3.
//
//go:embed sqlite/*.sql
var SQLite embed.FS

// Postgres holds the PostgreSQL migrations under postgres/: the same
// versions, tables and columns as SQLite's, in PostgreSQL's types. goose
// reads them from fs.Sub(Postgres, "postgres") with goose.DialectPostgres.
//
//go:embed postgres/*.sql
var Postgres embed.FS
