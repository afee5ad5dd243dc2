package console

import "context"

// LiveSessionsOf counts the live console sessions signed in with the API
// key keyID, for tests that must see what a browser cannot.
func (c *Console) LiveSessionsOf(ctx context.Context, keyID string) (int, error) {
	list, err := c.own.List(ctx, subjectPrefix+keyID)
	return len(list), err
}
