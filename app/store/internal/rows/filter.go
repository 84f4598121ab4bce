package rows

import (
	"fmt"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// StatusCols names how a table holds a record's outcome and status, for
// Filter.Status: the conditions of an ok and of a failed outcome, and the
// status column.
type StatusCols struct {
	OK, NotOK, Status string
}

// StatusCond returns the condition of Filter.Status status on a table
// whose columns c names, "" for any status, or an error wrapping
// ErrInvalid.
func StatusCond(status string, c StatusCols) (string, error) {
	switch status {
	case "":
		return "", nil
	case store.StatusSuccess:
		return c.OK, nil
	case store.StatusError:
		return c.NotOK, nil
	case store.Status2xx:
		return c.Status + " BETWEEN 200 AND 299", nil
	case store.Status4xx:
		return c.Status + " BETWEEN 400 AND 499", nil
	case store.Status5xx:
		return c.Status + " BETWEEN 500 AND 599", nil
	}
	return "", fmt.Errorf("%w: unknown status %q", store.ErrInvalid, status)
}
