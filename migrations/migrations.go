// Package migrations holds the SQL schema migrations, applied in order by
// goose when the store opens. The schema changes only through new files
// here, never through code.
package migrations

import "embed"

// FS holds every migration file, named NNNN_description.sql with goose
// annotations, for goose.NewProvider.
//
//go:embed *.sql
var FS embed.FS

// Postgres holds the PostgreSQL migrations under postgres/: the same
// versions, tables and columns as SQLite's, in PostgreSQL's types. goose
// reads them from fs.Sub(Postgres, "postgres") with goose.DialectPostgres.
//
//go:embed postgres/*.sql
var Postgres embed.FS
