package ssf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sessiond/sessiond"
)

// readDoc decodes the JSON MetaStore document name into dst and returns
// its version. A missing document is no error: dst stays as it was and the
// version is 0, what a first compare-and-swap write expects. what names
// the document in errors.
func readDoc(ctx context.Context, meta sessiond.MetaStore, name, what string, dst any) (int64, error) {
	b, v, err := meta.GetMeta(ctx, name)
	if errors.Is(err, sessiond.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("ssf: read %s: %w", what, err)
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return 0, fmt.Errorf("ssf: read %s: %w", what, err)
	}
	return v, nil
}
