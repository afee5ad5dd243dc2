package httpapi

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

// FuzzCheckQuery: checkQuery lets a query string through exactly when
// every name=value pair of it parses and names a parameter of the route,
// so what the handler reads (url.Values) is the whole query: no pair
// dropped, none it does not take. Routes are those of openapi.json.
func FuzzCheckQuery(f *testing.F) {
	params, err := routeQueryParams(openapiDoc)
	if err != nil {
		f.Fatal(err)
	}
	var routes []string
	for r := range params {
		routes = append(routes, r)
	}
	slices.Sort(routes)
	for _, q := range []string{"subject=alice", "subjet=alice", "except=ID%zz", "a;b", "subject=a&subject=b", "&&", "=x", "cursor", "limit=1&type=x",
		"subj%65ct=alice", "subject=al+ice", "%73ubject=x&", "stream_id=s1"} {
		for i := range routes {
			f.Add(uint8(i), q)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, raw string) {
		route := routes[int(which)%len(routes)]
		names := params[route]
		err := checkQuery(raw, names)
		vals, perr := url.ParseQuery(raw)
		want := perr == nil
		for k := range vals {
			want = want && slices.Contains(names, k)
		}
		if (err == nil) != want {
			t.Fatalf("%s: checkQuery(%q) = %v; parse error %v, names %v", route, raw, err, perr, names)
		}
		if err != nil {
			return
		}
		// Accepted: every pair of the text is in vals.
		n := 0
		for seg := range strings.SplitSeq(raw, "&") {
			if seg != "" {
				n++
			}
		}
		total := 0
		for _, v := range vals {
			total += len(v)
		}
		if n != total {
			t.Fatalf("%s: checkQuery(%q) accepted %d pairs of %d", route, raw, total, n)
		}
	})
}
