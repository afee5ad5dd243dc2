package httpapi

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// A query parameter a route does not take is refused (400
// invalid_request), not ignored: a mistyped filter (?subjet=alice) would
// list every subject's events, a mistyped option on a revoking route
// (?exept=ID) would end the session meant to be kept, and a client paging
// with a cursor the route has no use for would read the same page for
// ever. Which parameters each route takes is read from openapi.json, the
// one list the document, the clients and this check share.

// routeQueryParams returns the query parameters of each operation of doc,
// keyed by route pattern ("GET /v1/events"); an operation without any has
// an empty list.
func routeQueryParams(doc []byte) (map[string][]string, error) {
	type param struct {
		Ref  string `json:"$ref"`
		Name string `json:"name"`
		In   string `json:"in"`
	}
	type operation struct {
		Parameters []param `json:"parameters"`
	}
	var d struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Parameters map[string]param `json:"parameters"`
		} `json:"components"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, err
	}
	resolve := func(p param) (param, error) {
		if p.Ref == "" {
			return p, nil
		}
		name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/")
		c, found := d.Components.Parameters[name]
		if !ok || !found {
			return p, fmt.Errorf("unresolved parameter %q", p.Ref)
		}
		return c, nil
	}
	out := make(map[string][]string)
	for path, item := range d.Paths {
		var shared []param
		if raw, ok := item["parameters"]; ok {
			if err := json.Unmarshal(raw, &shared); err != nil {
				return nil, fmt.Errorf("%s: parameters: %w", path, err)
			}
		}
		for method, raw := range item {
			if method == "parameters" || strings.HasPrefix(method, "x-") || method == "summary" || method == "description" {
				continue
			}
			var op operation
			if err := json.Unmarshal(raw, &op); err != nil {
				return nil, fmt.Errorf("%s %s: %w", method, path, err)
			}
			names := []string{}
			for _, p := range append(shared, op.Parameters...) {
				p, err := resolve(p)
				if err != nil {
					return nil, fmt.Errorf("%s %s: %w", method, path, err)
				}
				if p.In == "query" {
					names = append(names, p.Name)
				}
			}
			out[strings.ToUpper(method)+" "+path] = names
		}
	}
	return out, nil
}

// errBadQuery: url.Values drops a pair that does not parse (a bad
// %-escape, a ';') without a word, so ?except=ID%zz would revoke the
// session meant to be kept and ?subject=alice%zz would list every
// subject's events: such a query is refused whole.
var errBadQuery = badRequest("the query string is not valid: each parameter is name=value, percent-encoded, separated by &")

// checkQuery refuses a query string that does not parse, then a parameter
// other than names.
func checkQuery(raw string, names []string) error {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return errBadQuery
	}
	return onlyParams(q, names...)
}
