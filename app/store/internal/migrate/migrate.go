// Package migrate applies a store's embedded migrations with goose: the
// part of opening a database that the SQLite and PostgreSQL stores share.
package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

// Dir returns the folder dir of fsys, an embedded file system of
// migrations, as goose reads it.
func Dir(fsys fs.FS, dir string) fs.FS {
	f, err := fs.Sub(fsys, dir)
	if err != nil {
		panic("migrations: " + err.Error()) // embedded: cannot happen
	}
	return f
}

// Up applies the pending migrations of schema to db.
func Up(ctx context.Context, dialect goose.Dialect, db *sql.DB, schema fs.FS, opts ...goose.ProviderOption) error {
	p, err := goose.NewProvider(dialect, db, schema, opts...)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}
