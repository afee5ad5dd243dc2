package httpsession_test

import (
	"fmt"
	"net/http"

	"github.com/sessiond/sessiond/httpsession"
)

// A forward-auth endpoint sees the original request's method in
// X-Forwarded-Method and its headers as they came.
func ExampleIsNavigation() {
	page := http.Header{"Sec-Fetch-Mode": {"navigate"}, "Accept": {"text/html"}}
	script := http.Header{"Sec-Fetch-Mode": {"cors"}, "Accept": {"application/json"}}
	fmt.Println(httpsession.IsNavigation(http.MethodGet, page))
	fmt.Println(httpsession.IsNavigation(http.MethodPost, page))
	fmt.Println(httpsession.IsNavigation(http.MethodGet, script))
	// Output:
	// true
	// false
	// false
}
