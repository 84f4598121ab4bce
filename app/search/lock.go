package search

import "io"

// Lock takes the lock of the index in dir, as Open does, without opening
// the index, and returns it to be closed when done. A command that must
// not run beside the service, such as import-seed, holds it meanwhile: it
// fails while the service runs, and the service cannot start until it is
// released.
func Lock(dir string) (io.Closer, error) { return lockDir(dir) }
